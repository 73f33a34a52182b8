#include "image/hasher.h"

#include <openssl/evp.h>

#include <fmt/format.h>

namespace ociexec::image {

struct Hasher::Ctx {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Hasher::Hasher(const std::string& algorithm) : ctx_(std::make_unique<Ctx>()), algorithm_(algorithm) {
  EVP_DigestInit_ex(ctx_->md, algorithm == "sha512" ? EVP_sha512() : EVP_sha256(), nullptr);
}
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;
Hasher::~Hasher() = default;

void Hasher::update(const void* data, std::size_t len) {
  EVP_DigestUpdate(ctx_->md, data, len);
}

Digest Hasher::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_->md, out, &n);
  std::string hex;
  hex.reserve(n * 2);
  for (unsigned i = 0; i < n; ++i) hex += fmt::format("{:02x}", out[i]);
  return Digest{algorithm_, std::move(hex)};
}

Digest digest_of(std::string_view data, const std::string& algorithm) {
  Hasher h(algorithm);
  h.update(data.data(), data.size());
  return h.finish();
}

}  // namespace ociexec::image
