// A streaming sha256/sha512 (OpenSSL EVP), for verifying blobs and layers while they flow.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "image/digest.h"

namespace ociexec::image {

class Hasher {
 public:
  explicit Hasher(const std::string& algorithm);  // "sha256" or "sha512" (validated before)
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  ~Hasher();
  void update(const void* data, std::size_t len);
  // The digest of everything so far ("sha256:<hex>"); the hasher is then spent.
  Digest finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  std::string algorithm_;
};

Digest digest_of(std::string_view data, const std::string& algorithm = "sha256");

}  // namespace ociexec::image
