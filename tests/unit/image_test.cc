// The image module's parsers and pure pieces: references (docker's normalization), digests,
// manifests, indexes and configs (fixtures in the shapes registries serve), platform
// selection, auth challenges and files, users, and confined paths.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "image/auth.h"
#include "image/digest.h"
#include "image/hasher.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "image/user.h"
#include "sys/confined.h"
#include "sys/fs.h"
#include "sys/process.h"
#include "ociexec/images.h"

using namespace ociexec;
using namespace ociexec::image;

namespace {

std::string image_fixture(const std::string& name) {
  auto text = sys::read_file(std::string(OCIEXEC_FIXTURES) + "/image/" + name);
  REQUIRE(text);
  return *text;
}

const std::string kHex(64, 'a');

}  // namespace

TEST_CASE("references: docker's normalization of short names, hosts, tags and digests") {
  struct Case {
    const char* in;
    const char* canonical;
    const char* api_host;
  };
  for (const auto& c : std::initializer_list<Case>{
           {"python", "docker.io/library/python:latest", "registry-1.docker.io"},
           {"python:3.12-slim", "docker.io/library/python:3.12-slim", "registry-1.docker.io"},
           {"bitnami/redis", "docker.io/bitnami/redis:latest", "registry-1.docker.io"},
           {"index.docker.io/library/alpine:3", "docker.io/library/alpine:3",
            "registry-1.docker.io"},
           {"quay.io/ns/img:v1.2", "quay.io/ns/img:v1.2", "quay.io"},
           {"127.0.0.1:5000/test/bb:1", "127.0.0.1:5000/test/bb:1", "127.0.0.1:5000"},
           {"localhost/app", "localhost/app:latest", "localhost"},
           {"reg.lan:8443/a/b/c_d__e-f.g:tag_1", "reg.lan:8443/a/b/c_d__e-f.g:tag_1",
            "reg.lan:8443"}}) {
    CAPTURE(c.in);
    auto r = parse_reference(c.in);
    REQUIRE(r);
    REQUIRE(r->registry);
    CHECK(r->canonical() == c.canonical);
    CHECK(r->registry->api_host() == c.api_host);
  }
  auto pinned = parse_reference("python@sha256:" + kHex);
  REQUIRE(pinned);
  CHECK(pinned->registry->tag.empty());
  CHECK(pinned->registry->manifest_reference() == "sha256:" + kHex);
  auto both = parse_reference("host:1/x:t@sha256:" + kHex);
  REQUIRE(both);
  CHECK(both->registry->manifest_reference() == "sha256:" + kHex);  // the digest wins
  CHECK(both->canonical() == "host:1/x:t@sha256:" + kHex);
}

TEST_CASE("references: bad ones name the rule, on one line") {
  for (const char* bad : {"", "Python", "python:", "python:-x", "a//b", "python@sha256:abc",
                          "python@md5:0123", "https://quay.io/x", "x:.dot-first"}) {
    CAPTURE(bad);
    auto r = parse_reference(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::kInvalidArgument);
    CHECK(r.error().message.find('\n') == std::string::npos);
    CHECK(r.error().message.rfind("image reference", 0) == 0);
  }
  CHECK(parse_reference("Python").error().message.find("lower-case") != std::string::npos);
}

TEST_CASE("references: oci:PATH[:REF] names an image layout") {
  auto r = parse_reference("oci:/srv/layouts/app:v1");
  REQUIRE(r);
  REQUIRE(r->layout);
  CHECK(r->layout->path == "/srv/layouts/app");
  CHECK(r->layout->ref == "v1");
  auto no_ref = parse_reference("oci:/srv/layouts/app");
  REQUIRE(no_ref);
  CHECK(no_ref->layout->ref.empty());
  CHECK(no_ref->canonical() == "oci:/srv/layouts/app");
  // A ':' in the last component stays in the path, both ways.
  auto colon_dir = parse_reference("oci:/srv/app:1/");
  REQUIRE(colon_dir);
  CHECK(colon_dir->layout->path == "/srv/app:1");
  CHECK(colon_dir->layout->ref.empty());
  CHECK(colon_dir->canonical() == "oci:/srv/app:1/");
  CHECK(parse_reference(colon_dir->canonical())->layout->path == "/srv/app:1");
  auto colon_ref = parse_reference("oci:/srv/app:1/:v2");
  REQUIRE(colon_ref);
  CHECK(colon_ref->canonical() == "oci:/srv/app:1:v2");
  CHECK(parse_reference(colon_ref->canonical())->layout->path == "/srv/app:1");
  CHECK(parse_reference("oci:/srv/layouts/app/")->canonical() == "oci:/srv/layouts/app");
  for (const std::string& bad : {std::string("oci:/srv/app:"), std::string("oci:/srv/app::"),
                                 std::string("oci:/srv/a\0b", 12)}) {
    CAPTURE(bad);
    auto e = parse_reference(bad);
    REQUIRE_FALSE(e);
    CHECK(e.error().kind == ErrorKind::kInvalidArgument);
    CHECK(e.error().message.find('\n') == std::string::npos);
  }
}

TEST_CASE("digests are validated before they name files") {
  CHECK(parse_digest("sha256:" + kHex));
  CHECK(parse_digest("sha512:" + std::string(128, '0')));
  for (std::string bad : {"sha256:" + std::string(63, 'a'), "sha256:" + std::string(64, 'A'),
                          "sha256:../../../../etc/passwd" + std::string(36, 'a'), "md5:" + kHex,
                          kHex, "sha256:" + kHex + "/"}) {
    CAPTURE(bad);
    auto d = parse_digest(bad);
    REQUIRE_FALSE(d);
    CHECK(d.error().kind == ErrorKind::kImage);
  }
}

TEST_CASE("manifests: an index selects the platform; the error lists what it offers") {
  auto index = parse_index(image_fixture("docker-hub-index.json"));
  REQUIRE(index);
  REQUIRE(index->manifests.size() == 4);
  CHECK(index->manifests[0].ref_name == "3.12-slim");
  auto amd64 = select_platform(*index, Platform{}, "python");
  REQUIRE(amd64);
  CHECK(amd64->digest.find("1a2b3c") != std::string::npos);
  auto arm64 = select_platform(*index, *parse_platform("linux/arm64"), "python");
  REQUIRE(arm64);
  CHECK(arm64->digest.ends_with("a64"));
  auto armv7 = select_platform(*index, *parse_platform("linux/arm/v7"), "python");
  REQUIRE(armv7);
  CHECK(armv7->digest.ends_with("a32"));
  auto none = select_platform(*index, *parse_platform("linux/s390x"), "python");
  REQUIRE_FALSE(none);
  CHECK(none.error().kind == ErrorKind::kImageNotFound);
  // The attestation entry (unknown/unknown) is not offered.
  CHECK(none.error().message ==
        "python: no image for platform linux/s390x (it offers: linux/amd64, linux/arm64/v8, "
        "linux/arm/v7); choose one with --platform");
  CHECK_FALSE(parse_platform("linux/"));
  CHECK(parse_platform("arm64")->str() == "linux/arm64");
}

TEST_CASE("manifests: Docker v2 schema 2 and OCI, and a mediaType that contradicts the server") {
  const std::string text = image_fixture("docker-v2-manifest.json");
  auto kind = document_kind(text, "application/vnd.docker.distribution.manifest.v2+json");
  REQUIRE(kind);
  CHECK(*kind == DocumentKind::kManifest);
  auto m = parse_manifest(text);
  REQUIRE(m);
  CHECK(m->layers.size() == 2);
  CHECK(m->layers[0].size == 29124531);
  CHECK(*layer_compression(m->layers[0].media_type) == Compression::kGzip);
  CHECK(*layer_compression(std::string(media::kOciLayerZstd)) == Compression::kZstd);
  CHECK(*layer_compression(std::string(media::kOciLayer)) == Compression::kNone);
  CHECK_FALSE(layer_compression("application/vnd.oci.image.layer.v1.tar+lz4"));

  auto lie = document_kind(text, "application/vnd.oci.image.index.v1+json");
  REQUIRE_FALSE(lie);
  CHECK(lie.error().message.find("differs from the Content-Type") != std::string::npos);
  // Parameters of the Content-Type are not part of the type.
  CHECK(document_kind(text, "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"));
  CHECK(*document_kind(image_fixture("docker-hub-index.json"), "") == DocumentKind::kIndex);
  CHECK(media::manifest_accept().find("manifest.list.v2+json") != std::string::npos);
  CHECK(media::manifest_accept().find("image.index.v1+json") != std::string::npos);

  auto schema1 = parse_manifest(R"({"schemaVersion": 1, "fsLayers": []})");
  REQUIRE_FALSE(schema1);
  CHECK(schema1.error().message.find("schema 1") != std::string::npos);
  auto bad_digest = parse_manifest(
      R"({"schemaVersion": 2, "config": {"digest": "sha256:x", "size": 1}, "layers": []})");
  REQUIRE_FALSE(bad_digest);
  CHECK(parse_manifest(std::string(kMaxManifestBytes + 1, ' ')).error().message.find("more than") !=
        std::string::npos);
}

TEST_CASE("configs: Env, WorkingDir, User and diff_ids") {
  auto c = parse_config(image_fixture("oci-config.json"));
  REQUIRE(c);
  CHECK(c->platform.str() == "linux/amd64");
  CHECK(c->env.size() == 3);
  CHECK(c->working_dir == "/srv");
  CHECK(c->user == "app:staff");
  CHECK(c->diff_ids.size() == 2);
  auto no_rootfs = parse_config(R"({"architecture": "amd64", "os": "linux"})");
  REQUIRE_FALSE(no_rootfs);
  auto bad_env = parse_config(
      R"({"config": {"Env": ["NOEQUALS"]}, "rootfs": {"type": "layers", "diff_ids": []}})");
  REQUIRE_FALSE(bad_env);
  CHECK(bad_env.error().message.find("NOEQUALS") != std::string::npos);
}

TEST_CASE("auth: WWW-Authenticate challenges as registries send them") {
  auto bearer = parse_challenge(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/python:pull")");
  REQUIRE(bearer);
  CHECK(bearer->scheme == "bearer");
  CHECK(bearer->params["realm"] == "https://auth.docker.io/token");
  CHECK(bearer->params["service"] == "registry.docker.io");
  CHECK(bearer->params["scope"] == "repository:library/python:pull");
  auto spaced = parse_challenge(
      R"(Bearer realm="http://127.0.0.1:1/t", service="x", error="insufficient_scope")");
  REQUIRE(spaced);
  CHECK(spaced->params["error"] == "insufficient_scope");
  auto basic = parse_challenge(R"(Basic realm="Registry Realm")");
  REQUIRE(basic);
  CHECK(basic->scheme == "basic");
  CHECK(basic->params["realm"] == "Registry Realm");
  CHECK_FALSE(parse_challenge(""));
}

TEST_CASE("auth: credentials from docker's config.json and containers' auth.json") {
  const std::string docker = R"({"auths": {
      "https://index.docker.io/v1/": {"auth": ")" +
                             base64_encode("hub:pw:with:colons") + R"("},
      "127.0.0.1:5000": {"auth": ")" +
                             base64_encode("alice:s3cret") + R"("},
      "quay.io": {"username": "bob", "password": "pw2"}}})";
  auto hub = credentials_from_auth_json(docker, "docker.io");
  REQUIRE(hub);
  REQUIRE(*hub);
  CHECK((*hub)->username == "hub");
  CHECK((*hub)->password == "pw:with:colons");
  auto local = credentials_from_auth_json(docker, "127.0.0.1:5000");
  REQUIRE((local && *local));
  CHECK((*local)->password == "s3cret");
  CHECK((*credentials_from_auth_json(docker, "quay.io"))->username == "bob");
  CHECK_FALSE(*credentials_from_auth_json(docker, "ghcr.io"));
  CHECK_FALSE(credentials_from_auth_json(R"({"auths": {"x": {"auth": "!!!"}}})", "x"));
  CHECK_FALSE(credentials_from_auth_json("[", "x"));
  CHECK(*base64_decode(base64_encode("a")) == "a");
  CHECK(*base64_decode(base64_encode("ab")) == "ab");
  CHECK(*base64_decode(base64_encode("abc")) == "abc");
  CHECK(*token_from_response(R"({"token": "t1", "expires_in": 300})") == "t1");
  CHECK(*token_from_response(R"({"access_token": "t2"})") == "t2");
  CHECK_FALSE(token_from_response("{}"));
  CHECK_FALSE(parse_credentials("nopassword"));
}

TEST_CASE("users: ids and names from the root's own /etc files") {
  const std::map<std::string, std::string> etc = {
      {"passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"},
      {"group", "root:x:0:\nstaff:x:50:\napp:x:1001:\n"}};
  auto read = [&](const std::string& name) -> std::optional<std::string> {
    auto it = etc.find(name);
    return it == etc.end() ? std::nullopt : std::optional(it->second);
  };
  CHECK(*resolve_user("app", read) == UserIds{1000, 1001});
  CHECK(*resolve_user("app:staff", read) == UserIds{1000, 50});
  CHECK(*resolve_user("1000", read) == UserIds{1000, 1001});  // the passwd entry's group
  CHECK(*resolve_user("4242", read) == UserIds{4242, 0});     // none: docker's gid 0
  CHECK(*resolve_user("7:8", read) == UserIds{7, 8});
  CHECK(*resolve_user("4294967294", read) == UserIds{4294967294U, 0});
  for (const char* bad : {"nobody", "app:wheel", "4294967295", ":1", "1:", "99999999999"}) {
    CAPTURE(bad);
    auto r = resolve_user(bad, read);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::kInvalidArgument);
  }
  auto no_etc =
      resolve_user("app", [](const std::string&) { return std::optional<std::string>(); });
  REQUIRE_FALSE(no_etc);
  CHECK(no_etc.error().message.find("no /etc/passwd") != std::string::npos);
}

TEST_CASE("confined paths: .. never climbs above the root") {
  using V = std::vector<std::string>;
  CHECK(sys::confined_components("a/b/c") == V{"a", "b", "c"});
  CHECK(sys::confined_components("/etc/passwd") == V{"etc", "passwd"});
  CHECK(sys::confined_components("../../../../etc/shadow") == V{"etc", "shadow"});
  CHECK(sys::confined_components("a/../../b/./c/") == V{"b", "c"});
  CHECK(sys::confined_components("./") == V{});
}

TEST_CASE("layout blobs: what is unpacked is the copy that was verified, never the file again") {
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/ociexec-layout-XXXXXX";
  const fs::path dir = ::mkdtemp(tmpl);
  const fs::path tree = dir / "tree";
  fs::create_directories(tree);
  std::ofstream(tree / "a") << "original";
  auto tar = sys::run_command({"/bin/tar", "--format=posix", "-cf", (dir / "layer.tar").string(),
                               "-C", tree.string(), "a"},
                              std::chrono::seconds(30));
  REQUIRE(tar);
  REQUIRE(tar->status.code == 0);
  const std::string layer = *sys::read_file(dir / "layer.tar");
  const fs::path layout = dir / "layout";
  fs::create_directories(layout / "blobs/sha256");
  auto blob = [&](const std::string& data) {
    const Digest d = digest_of(data);
    std::ofstream(layout / "blobs/sha256" / d.hex, std::ios::binary) << data;
    return d;
  };
  const Digest layer_digest = blob(layer);
  const std::string config = fmt::format(
      R"({{"config":{{}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}})", layer_digest.str());
  const Digest config_digest = blob(config);
  const std::string manifest = fmt::format(
      R"({{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
      R"("config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},)"
      R"("layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}})",
      config_digest.str(), config.size(), layer_digest.str(), layer.size());
  const Digest manifest_digest = blob(manifest);
  std::ofstream(layout / "oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
  std::ofstream(layout / "index.json") << fmt::format(
      R"({{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
      R"("digest":"{}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"x"}}}}]}})",
      manifest_digest.str(), manifest.size());

  // Once the whole blob has been read and hashed, its owner rewrites it in place.
  const fs::path blob_file = layout / "blobs/sha256" / layer_digest.hex;
  bool tampered = false;
  auto progress = [&](const PullProgress& p) {
    if (p.stage != PullProgress::Stage::kLayerBytes || p.done != p.total || tampered) return;
    std::string bytes = *sys::read_file(blob_file);
    const auto at = bytes.find("original");
    REQUIRE(at != std::string::npos);
    bytes.replace(at, 8, "tampered");
    std::ofstream(blob_file, std::ios::binary | std::ios::in) << bytes;
    tampered = true;
  };
  ImageOptions options;
  options.store = dir / "store";
  auto pulled = pull_image("oci:" + layout.string() + ":x", options, progress);
  CHECK(tampered);
  REQUIRE_MESSAGE(pulled, (pulled ? "" : pulled.error().message));
  const fs::path unpacked = options.store / (::geteuid() == 0 ? "layers/sha256" : "flat/sha256") /
                            (::geteuid() == 0 ? layer_digest.hex : config_digest.hex) / "a";
  CHECK(sys::read_file(unpacked).value_or("") == "original");
  fs::remove_all(dir);
}
