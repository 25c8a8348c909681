#include "executor/crypto/sealed_file.h"

#include <csignal>
#include <cstdint>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/crypto/aead.h"
#include "executor/crypto/hkdf.h"
#include "executor/crypto/key_wrap.h"
#include "executor/crypto/x25519.h"
#include "executor/sandbox/unique_fd.h"
#include "tests/testing/integration.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::executor::crypto {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::uint32_t kChunk = 4096;
constexpr std::size_t kSealedChunk = kChunk + kAeadTagBytes;
constexpr std::string_view kKeyId = "dataset-a";

std::string Plain(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + (i >> 9)) & 0xff);
  return s;
}

UniqueFd MemFdWith(std::string_view data) {
  UniqueFd fd(::memfd_create("sealed-test", MFD_CLOEXEC));
  EXPECT_TRUE(fd.valid());
  for (std::size_t done = 0; done < data.size();) {
    const ssize_t w = ::write(fd.get(), data.data() + done, data.size() - done);
    if (w <= 0) break;
    done += static_cast<std::size_t>(w);
  }
  EXPECT_EQ(::lseek(fd.get(), 0, SEEK_SET), 0);
  return fd;
}

// Everything from the current position to EOF.
std::string ReadToEnd(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

std::string Contents(int fd) {
  EXPECT_EQ(::lseek(fd, 0, SEEK_SET), 0);
  return ReadToEnd(fd);
}

struct Unsealed {
  absl::Status status;
  std::string out;  // whatever was written, also on failure
  SealStats stats;
};

class SealedFileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { std::signal(SIGPIPE, SIG_IGN); }
  void SetUp() override {
    a_ = X25519KeyPair::Generate().value();
    b_ = X25519KeyPair::Generate().value();
  }

  std::string Seal(std::string_view plain, std::uint32_t chunk = kChunk,
                   std::string_view key_id = kKeyId) {
    UniqueFd in = MemFdWith(plain);
    UniqueFd out = MemFdWith("");
    absl::StatusOr<SealStats> stats = SealStream(in.get(), out.get(), key_id, a_.public_key, chunk);
    EXPECT_THAT(stats, IsOk());
    return Contents(out.get());
  }

  static Unsealed Unseal(std::string_view sealed, const SecretBytes& priv) {
    UniqueFd in = MemFdWith(sealed);
    UniqueFd out = MemFdWith("");
    Unsealed u;
    absl::StatusOr<SealedHeader> h = ReadSealedHeader(in.get());
    if (!h.ok()) {
      u.status = h.status();
      return u;
    }
    absl::StatusOr<SealStats> stats = UnsealStream(in.get(), *h, priv, out.get());
    u.status = stats.status();
    if (stats.ok()) u.stats = *stats;
    u.out = Contents(out.get());
    return u;
  }
  Unsealed Unseal(std::string_view sealed) { return Unseal(sealed, a_.private_key); }

  // Expects a DataLoss naming `what`, and that only a prefix of `plain` was written.
  void ExpectDataLoss(const Unsealed& u, std::string_view what, std::string_view plain) {
    EXPECT_THAT(u.status, StatusIs(absl::StatusCode::kDataLoss));
    EXPECT_THAT(std::string(u.status.message()), HasSubstr(std::string(what)));
    EXPECT_EQ(u.out, plain.substr(0, u.out.size())) << "wrote bytes that are not the plaintext";
  }

  static std::size_t HeaderBytes() { return SealedHeaderBytes(kKeyId.size()); }
  static std::size_t ChunkAt(std::size_t i) { return HeaderBytes() + i * kSealedChunk; }

  X25519KeyPair a_;
  X25519KeyPair b_;
};

class SealedFileRoundTripTest : public SealedFileTest,
                                public ::testing::WithParamInterface<std::size_t> {};

TEST_P(SealedFileRoundTripTest, RoundTrips) {
  const std::size_t size = GetParam();
  const std::string plain = Plain(size);
  UniqueFd in = MemFdWith(plain);
  UniqueFd out = MemFdWith("");
  absl::StatusOr<SealStats> stats = SealStream(in.get(), out.get(), kKeyId, a_.public_key, kChunk);
  ASSERT_THAT(stats, IsOk());
  const std::string sealed = Contents(out.get());
  const std::uint64_t chunks = size == 0 ? 1 : (size + kChunk - 1) / kChunk;
  EXPECT_EQ(stats->chunks, chunks);
  EXPECT_EQ(stats->plaintext_bytes, size);
  EXPECT_EQ(stats->sealed_bytes, sealed.size());
  EXPECT_EQ(sealed.size(), SealedFileBytes(size, kChunk, kKeyId.size()));
  EXPECT_EQ(sealed.size(), HeaderBytes() + size + chunks * kAeadTagBytes);

  Unsealed u = Unseal(sealed);
  ASSERT_THAT(u.status, IsOk());
  EXPECT_EQ(u.out, plain);
  EXPECT_EQ(u.stats.chunks, chunks);
  EXPECT_EQ(u.stats.plaintext_bytes, size);
  EXPECT_EQ(u.stats.sealed_bytes, sealed.size());
}

// Empty, 1 byte, one byte short of a chunk, exactly one chunk, exactly 3 chunks, 3 chunks + 1.
INSTANTIATE_TEST_SUITE_P(Sizes, SealedFileRoundTripTest,
                         ::testing::Values(0, 1, kChunk - 1, kChunk, 3 * kChunk, 3 * kChunk + 1));

TEST_F(SealedFileTest, EmptyFileIsOneEmptyFinalChunk) {
  const std::string sealed = Seal("");
  EXPECT_EQ(sealed.size(), HeaderBytes() + kAeadTagBytes);
}

TEST_F(SealedFileTest, HeaderIsAsDocumented) {
  const std::string sealed = Seal("hello", 8192);
  ASSERT_EQ(sealed.substr(0, 8), std::string("\x89SFSEAL\n"));
  EXPECT_EQ(sealed[8], 1);                                              // version
  EXPECT_EQ(sealed[9], 1);                                              // suite
  EXPECT_EQ(sealed.substr(10, 4), std::string("\x00\x00\x20\x00", 4));  // chunk_bytes 8192
  EXPECT_EQ(sealed.substr(30, 2), std::string("\x00\x09", 2));          // key_id_len
  EXPECT_EQ(sealed.substr(32, 9), kKeyId);
  absl::StatusOr<SealedHeader> h = ParseSealedHeader(sealed);
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->version, 1);
  EXPECT_EQ(h->chunk_bytes, 8192u);
  EXPECT_EQ(h->key_id, kKeyId);
  EXPECT_EQ(h->file_id, sealed.substr(14, 16));
  EXPECT_EQ(h->ephemeral_public_key, sealed.substr(41, 32));
  EXPECT_EQ(h->wrapped_dek, sealed.substr(73, 48));
  EXPECT_EQ(h->raw, sealed.substr(0, 121));
  EXPECT_EQ(sealed.size(), 121u + 5 + 16);
  // The documented chunk construction decrypts the first chunk given the data key.
  const SecretBytes dek =
      UnwrapWithPrivateKey(a_.private_key, {h->ephemeral_public_key, h->wrapped_dek},
                           kSealedDekInfo, sealed.substr(0, 41))
          .value();
  const std::string iv(12, '\0');
  const std::string aad = Sha256(h->raw) + std::string(8, '\0') + std::string(1, '\1');
  absl::StatusOr<SecretBytes> chunk = AeadDecrypt(dek, iv, aad, sealed.substr(121));
  ASSERT_THAT(chunk, IsOk());
  EXPECT_EQ(chunk->view(), "hello");
}

TEST_F(SealedFileTest, EachSealHasItsOwnFileIdAndDataKey) {
  const std::string x = Seal("same");
  const std::string y = Seal("same");
  EXPECT_NE(ParseSealedHeader(x)->file_id, ParseSealedHeader(y)->file_id);
  EXPECT_NE(x.substr(HeaderBytes()), y.substr(HeaderBytes()));
}

TEST_F(SealedFileTest, OtherChunkSizesRoundTrip) {
  for (const std::uint32_t chunk : {kMinChunkBytes, 5000u, 65536u}) {
    const std::string plain = Plain(2 * chunk + 17);
    const std::string sealed = Seal(plain, chunk);
    EXPECT_EQ(ParseSealedHeader(sealed)->chunk_bytes, chunk);
    Unsealed u = Unseal(sealed);
    ASSERT_THAT(u.status, IsOk());
    EXPECT_EQ(u.out, plain);
  }
}

TEST_F(SealedFileTest, LooksSealed) {
  EXPECT_TRUE(LooksSealed(Seal("x")));
  EXPECT_TRUE(LooksSealed(kSealedMagic));
  EXPECT_FALSE(LooksSealed(""));
  EXPECT_FALSE(LooksSealed(kSealedMagic.substr(0, 7)));
  EXPECT_FALSE(LooksSealed("PK\x03\x04 a zip file"));
  EXPECT_FALSE(LooksSealed("\x89PNG\r\n\x1a\n"));
}

TEST_F(SealedFileTest, ParseRejectsBadHeaders) {
  const std::string good = Seal("data");
  auto expect = [](const std::string& bytes, absl::StatusCode code, std::string_view what) {
    absl::StatusOr<SealedHeader> h = ParseSealedHeader(bytes);
    EXPECT_THAT(h, StatusIs(code)) << what;
    EXPECT_THAT(std::string(h.status().message()), HasSubstr(std::string(what)));
  };
  expect("hello, world: not sealed at all", absl::StatusCode::kDataLoss,
         "not a SafeFlow sealed file");
  expect("\x89PNG", absl::StatusCode::kDataLoss, "not a SafeFlow sealed file");
  std::string bad = good;
  bad[8] = 2;
  expect(bad, absl::StatusCode::kDataLoss, "unsupported sealed-file version 2");
  bad = good;
  bad[9] = 9;
  expect(bad, absl::StatusCode::kDataLoss, "unsupported sealed-file suite 9");
  bad = good;
  bad.replace(10, 4, std::string("\x00\x00\x00\x64", 4));
  expect(bad, absl::StatusCode::kDataLoss, "bad sealed-file header: chunk_bytes 100 outside");
  bad.replace(10, 4, std::string("\x02\x00\x00\x00", 4));
  expect(bad, absl::StatusCode::kDataLoss, "chunk_bytes 33554432 outside");
  bad = good;
  bad.replace(30, 2, std::string("\x00\x00", 2));
  expect(bad, absl::StatusCode::kDataLoss, "bad sealed-file header: key id length 0");
  bad.replace(30, 2, std::string("\x01\x00", 2));
  expect(bad, absl::StatusCode::kDataLoss, "key id length 256");
  bad = good;
  bad[33] = '\x01';
  expect(bad, absl::StatusCode::kDataLoss, "key id is not printable");
  // Consistent but incomplete prefixes: read more.
  expect(good.substr(0, 3), absl::StatusCode::kNotFound, "incomplete sealed-file header");
  expect(good.substr(0, 50), absl::StatusCode::kNotFound, "need at least 121");
  expect("", absl::StatusCode::kNotFound, "incomplete");
}

TEST_F(SealedFileTest, ParseTakesOnlyTheHeader) {
  const std::string sealed = Seal(Plain(10));
  absl::StatusOr<SealedHeader> h = ParseSealedHeader(sealed);
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->raw.size(), HeaderBytes());
}

TEST_F(SealedFileTest, ReadSealedHeaderStopsAfterTheHeader) {
  const std::string sealed = Seal(Plain(10));
  UniqueFd fd = MemFdWith(sealed);
  absl::StatusOr<SealedHeader> h = ReadSealedHeader(fd.get());
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(::lseek(fd.get(), 0, SEEK_CUR), static_cast<off_t>(HeaderBytes()));
  EXPECT_EQ(h->raw, sealed.substr(0, HeaderBytes()));
}

TEST_F(SealedFileTest, ReadSealedHeaderReportsTruncationAndNonSealedInput) {
  const std::string sealed = Seal("x");
  for (const std::size_t cut :
       {std::size_t{5}, std::size_t{31}, std::size_t{32}, HeaderBytes() - 1}) {
    UniqueFd fd = MemFdWith(sealed.substr(0, cut));
    absl::StatusOr<SealedHeader> h = ReadSealedHeader(fd.get());
    EXPECT_THAT(h, StatusIs(absl::StatusCode::kDataLoss)) << cut;
    EXPECT_THAT(std::string(h.status().message()), HasSubstr("truncated sealed-file header"))
        << cut;
  }
  UniqueFd empty = MemFdWith("");
  absl::StatusOr<SealedHeader> h = ReadSealedHeader(empty.get());
  EXPECT_THAT(h, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(std::string(h.status().message()), HasSubstr("not a SafeFlow sealed file"));
  UniqueFd text = MemFdWith("just some text that is long enough to fill a header, really");
  h = ReadSealedHeader(text.get());
  EXPECT_THAT(h, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(std::string(h.status().message()), HasSubstr("not a SafeFlow sealed file"));
}

TEST_F(SealedFileTest, WrongKeyIsReportedWithTheKeyId) {
  const std::string plain = Plain(3 * kChunk);
  Unsealed u = Unseal(Seal(plain), b_.private_key);
  ExpectDataLoss(u,
                 "the data key could not be unwrapped with key dataset-a: wrong key or tampered "
                 "header",
                 plain);
  EXPECT_TRUE(u.out.empty());
}

TEST_F(SealedFileTest, FlippedByteInAChunkFailsThatChunk) {
  const std::string plain = Plain(3 * kChunk + 100);
  const std::string sealed = Seal(plain);
  std::string bad = sealed;
  bad[ChunkAt(1) + 10] ^= 0x01;
  Unsealed u = Unseal(bad);
  ExpectDataLoss(u,
                 "chunk 1 failed authentication: the file was tampered with or its chunks "
                 "reordered",
                 plain);
  EXPECT_EQ(u.out, plain.substr(0, kChunk));  // chunk 0 only; nothing of chunk 1

  bad = sealed;
  bad[ChunkAt(1) - 1] ^= 0x80;  // the last byte of chunk 0's tag
  ExpectDataLoss(Unseal(bad), "chunk 0 failed authentication", plain);
  bad = sealed;
  bad.back() ^= 0x01;  // the final chunk's tag
  u = Unseal(bad);
  ExpectDataLoss(u, "chunk 3 failed authentication", plain);
  EXPECT_EQ(u.out, plain.substr(0, 3 * kChunk));
}

TEST_F(SealedFileTest, FlippedByteInTheHeaderFailsTheKeyUnwrap) {
  const std::string plain = Plain(100);
  const std::string sealed = Seal(plain);
  std::string bad = sealed;
  ASSERT_EQ(bad[40], 'a');
  bad[40] = 'b';  // key id "dataset-a" -> "dataset-b"
  Unsealed u = Unseal(bad);
  ExpectDataLoss(u,
                 "the data key could not be unwrapped with key dataset-b: wrong key or tampered "
                 "header",
                 plain);
  EXPECT_TRUE(u.out.empty());
  // file_id, chunk_bytes (still valid), ephemeral key and wrapped key are all bound too.
  for (const std::size_t at :
       {std::size_t{20}, std::size_t{13}, std::size_t{50}, std::size_t{100}}) {
    bad = sealed;
    bad[at] ^= 0x10;
    ExpectDataLoss(Unseal(bad), "could not be unwrapped with key dataset-a", plain);
  }
}

TEST_F(SealedFileTest, TruncationAtAChunkBoundary) {
  const std::string plain = Plain(3 * kChunk + 10);  // 4 chunks, the last one short
  const std::string sealed = Seal(plain);
  ExpectDataLoss(Unseal(sealed.substr(0, ChunkAt(3))), "truncated: no final chunk after 3 chunks",
                 plain);
  ExpectDataLoss(Unseal(sealed.substr(0, ChunkAt(1))), "truncated: no final chunk after 1 chunks",
                 plain);
  ExpectDataLoss(Unseal(sealed.substr(0, HeaderBytes())),
                 "truncated: no final chunk after 0 chunks", plain);
  // All chunks full: dropping the (full) final chunk.
  const std::string full = Plain(3 * kChunk);
  ExpectDataLoss(Unseal(Seal(full).substr(0, ChunkAt(2))),
                 "truncated: no final chunk after 2 chunks", full);
}

TEST_F(SealedFileTest, TruncationInsideAChunk) {
  const std::string plain = Plain(3 * kChunk + 10);
  const std::string sealed = Seal(plain);
  Unsealed u = Unseal(sealed.substr(0, ChunkAt(1) + 100));
  ExpectDataLoss(u, "chunk 1 failed authentication", plain);
  EXPECT_THAT(std::string(u.status.message()), HasSubstr("truncated"));
  EXPECT_EQ(u.out, plain.substr(0, kChunk));
  ExpectDataLoss(Unseal(sealed.substr(0, ChunkAt(2) + 5)),
                 "truncated: chunk 2 holds 5 bytes, fewer than its 16-byte tag", plain);
  ExpectDataLoss(Unseal(sealed.substr(0, sealed.size() - 1)), "chunk 3 failed authentication",
                 plain);
}

TEST_F(SealedFileTest, SinkReceivesEachAuthenticatedChunkInOrder) {
  const std::string plain = Plain(3 * kChunk + 7);
  UniqueFd in = MemFdWith(Seal(plain));
  absl::StatusOr<SealedHeader> h = ReadSealedHeader(in.get());
  ASSERT_THAT(h, IsOk());
  std::vector<std::size_t> sizes;
  std::string got;
  absl::StatusOr<SealStats> stats =
      UnsealStream(in.get(), *h, a_.private_key, [&](std::string_view bytes) {
        sizes.push_back(bytes.size());
        got.append(bytes);
        return absl::OkStatus();
      });
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(got, plain);
  EXPECT_THAT(sizes, ::testing::ElementsAre(kChunk, kChunk, kChunk, 7u));
  EXPECT_EQ(stats->plaintext_bytes, plain.size());
}

TEST_F(SealedFileTest, SinkErrorStopsTheUnsealing) {
  const std::string plain = Plain(3 * kChunk);
  UniqueFd in = MemFdWith(Seal(plain));
  absl::StatusOr<SealedHeader> h = ReadSealedHeader(in.get());
  ASSERT_THAT(h, IsOk());
  int calls = 0;
  absl::StatusOr<SealStats> stats =
      UnsealStream(in.get(), *h, a_.private_key, [&](std::string_view) {
        return ++calls == 2 ? absl::CancelledError("client went away") : absl::OkStatus();
      });
  EXPECT_THAT(stats, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(calls, 2);
}

TEST_F(SealedFileTest, SinkNeverSeesAChunkThatFailedAuthentication) {
  const std::string plain = Plain(2 * kChunk + 5);
  std::string sealed = Seal(plain);
  sealed[ChunkAt(1) + 3] ^= 0x01;
  UniqueFd in = MemFdWith(sealed);
  absl::StatusOr<SealedHeader> h = ReadSealedHeader(in.get());
  ASSERT_THAT(h, IsOk());
  std::string got;
  absl::StatusOr<SealStats> stats =
      UnsealStream(in.get(), *h, a_.private_key, [&](std::string_view bytes) {
        got.append(bytes);
        return absl::OkStatus();
      });
  EXPECT_THAT(stats, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_EQ(got, plain.substr(0, kChunk));
}

TEST_F(SealedFileTest, SwappedChunksAreDetected) {
  const std::string plain = Plain(3 * kChunk + 10);
  const std::string sealed = Seal(plain);
  std::string bad = sealed;
  bad.replace(ChunkAt(0), kSealedChunk, sealed.substr(ChunkAt(1), kSealedChunk));
  bad.replace(ChunkAt(1), kSealedChunk, sealed.substr(ChunkAt(0), kSealedChunk));
  Unsealed u = Unseal(bad);
  ExpectDataLoss(u,
                 "chunk 0 failed authentication: the file was tampered with or its chunks "
                 "reordered",
                 plain);
  EXPECT_TRUE(u.out.empty());
}

TEST_F(SealedFileTest, DuplicatedAndDroppedChunksAreDetected) {
  const std::string plain = Plain(3 * kChunk + 10);
  const std::string sealed = Seal(plain);
  std::string dup = sealed;
  dup.insert(ChunkAt(2), sealed.substr(ChunkAt(1), kSealedChunk));
  Unsealed u = Unseal(dup);
  ExpectDataLoss(u, "chunk 2 failed authentication", plain);
  EXPECT_EQ(u.out, plain.substr(0, 2 * kChunk));

  std::string dropped = sealed;
  dropped.erase(ChunkAt(1), kSealedChunk);
  ExpectDataLoss(Unseal(dropped), "chunk 1 failed authentication", plain);

  // A duplicated full final chunk authenticates, then more follows.
  const std::string full = Plain(2 * kChunk);
  const std::string sealed_full = Seal(full);
  ExpectDataLoss(Unseal(sealed_full + sealed_full.substr(ChunkAt(1))),
                 "trailing bytes after the final chunk (chunk 1)", full);
}

TEST_F(SealedFileTest, TrailingGarbageIsDetected) {
  const std::string full = Plain(2 * kChunk);
  Unsealed u = Unseal(Seal(full) + "garbage");
  ExpectDataLoss(u, "trailing bytes after the final chunk (chunk 1)", full);
  EXPECT_EQ(u.out, full.substr(0, kChunk));  // the final chunk's plaintext is held back
  ExpectDataLoss(Unseal(Seal(full) + std::string(kSealedChunk, 'x')), "trailing bytes", full);
  // After a short final chunk the format cannot tell garbage from a modified chunk.
  const std::string plain = Plain(kChunk + 10);
  u = Unseal(Seal(plain) + "garbage");
  ExpectDataLoss(u, "chunk 1 failed authentication", plain);
  EXPECT_THAT(std::string(u.status.message()), HasSubstr("extended"));
  ExpectDataLoss(Unseal(Seal("") + "x"), "chunk 0 failed authentication", "");
}

TEST_F(SealedFileTest, HeaderFromAnotherFileIsRejected) {
  const std::string plain = Plain(kChunk + 10);
  const std::string x = Seal(plain);
  const std::string y = Seal(plain);
  ExpectDataLoss(Unseal(x.substr(0, HeaderBytes()) + y.substr(HeaderBytes())),
                 "chunk 0 failed authentication", plain);
}

TEST_F(SealedFileTest, SealRejectsBadArguments) {
  UniqueFd in = MemFdWith("x");
  UniqueFd out = MemFdWith("");
  auto expect = [&](std::string_view key_id, std::string_view pub, std::uint32_t chunk,
                    std::string_view what) {
    absl::StatusOr<SealStats> r = SealStream(in.get(), out.get(), key_id, pub, chunk);
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument)) << what;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string(what)));
  };
  expect(kKeyId, a_.public_key, 100, "chunk_bytes 100 outside 4096..16777216");
  expect(kKeyId, a_.public_key, kMaxChunkBytes + 1, "chunk_bytes 16777217 outside");
  expect("", a_.public_key, kChunk, "key id must be 1..255 printable");
  expect(std::string(256, 'k'), a_.public_key, kChunk, "key id must be 1..255 printable");
  expect("bad\nid", a_.public_key, kChunk, "key id must be 1..255 printable");
  expect(kKeyId, "short", kChunk, "public key must be 32 bytes");
  expect(kKeyId, std::string(32, '\0'), kChunk, "low-order");
  EXPECT_TRUE(Contents(out.get()).empty());
}

TEST_F(SealedFileTest, UnsealRejectsBadArguments) {
  const std::string sealed = Seal("x");
  UniqueFd in = MemFdWith(sealed);
  UniqueFd out = MemFdWith("");
  SealedHeader h = ReadSealedHeader(in.get()).value();
  absl::StatusOr<SealStats> r = UnsealStream(in.get(), h, SecretBytes(16), out.get());
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("private key must be 32 bytes"));
  SealedHeader partial = h;
  partial.raw.pop_back();
  r = UnsealStream(in.get(), partial, a_.private_key, out.get());
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("header.raw"));
}

// Feeds `data` into a pipe from a thread; the read end is `fd()`.
class PipeFeeder {
 public:
  explicit PipeFeeder(std::string data, int flags = 0) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    read_.Reset(fds[0]);
    if (flags != 0) ::fcntl(fds[0], F_SETFL, flags);
    thread_ = std::thread([fd = fds[1], d = std::move(data)] {
      for (std::size_t done = 0; done < d.size();) {
        // Small pieces, so that the reader sees short reads.
        const ssize_t w =
            ::write(fd, d.data() + done, std::min<std::size_t>(d.size() - done, 1000));
        if (w <= 0) break;
        done += static_cast<std::size_t>(w);
      }
      ::close(fd);
    });
  }
  ~PipeFeeder() {
    read_.Reset();
    thread_.join();
  }
  int fd() const { return read_.get(); }

 private:
  UniqueFd read_;
  std::thread thread_;
};

// Collects what is written to a pipe's write end `fd()` from a thread.
class PipeDrainer {
 public:
  PipeDrainer() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    write_.Reset(fds[1]);
    thread_ = std::thread([this, fd = fds[0]] {
      data_ = ReadToEnd(fd);
      ::close(fd);
    });
  }
  ~PipeDrainer() { Finish(); }
  int fd() const { return write_.get(); }
  const std::string& Finish() {
    write_.Reset();
    if (thread_.joinable()) thread_.join();
    return data_;
  }

 private:
  UniqueFd write_;
  std::thread thread_;
  std::string data_;
};

TEST_F(SealedFileTest, WorksOnPipes) {
  const std::string plain = Plain(5 * kChunk + 123);
  std::string sealed;
  {
    PipeFeeder in(plain);
    PipeDrainer out;
    absl::StatusOr<SealStats> stats = SealStream(in.fd(), out.fd(), kKeyId, a_.public_key, kChunk);
    ASSERT_THAT(stats, IsOk());
    sealed = out.Finish();
    EXPECT_EQ(stats->sealed_bytes, sealed.size());
    EXPECT_EQ(stats->chunks, 6u);
  }
  PipeFeeder in(sealed);
  PipeDrainer out;
  absl::StatusOr<SealedHeader> h = ReadSealedHeader(in.fd());
  ASSERT_THAT(h, IsOk());
  absl::StatusOr<SealStats> stats = UnsealStream(in.fd(), *h, a_.private_key, out.fd());
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(out.Finish(), plain);
}

TEST_F(SealedFileTest, WorksOnNonBlockingPipes) {
  const std::string plain = Plain(3 * kChunk + 5);
  PipeFeeder in(Seal(plain), O_NONBLOCK);
  UniqueFd out = MemFdWith("");
  absl::StatusOr<SealedHeader> h = ReadSealedHeader(in.fd());
  ASSERT_THAT(h, IsOk());
  ASSERT_THAT(UnsealStream(in.fd(), *h, a_.private_key, out.get()), IsOk());
  EXPECT_EQ(Contents(out.get()), plain);
}

class SealedFilePathTest : public SealedFileTest {
 protected:
  std::string Path(std::string_view name) const { return dir_.path() + "/" + std::string(name); }
  static bool Exists(const std::string& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0;
  }
  static void WriteFile(const std::string& p, std::string_view data) {
    UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(::write(fd.get(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }
  static std::string ReadFile(const std::string& p) {
    UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
    return fd.valid() ? ReadToEnd(fd.get()) : std::string();
  }
  ::safeflow::testing::TempDir dir_;
};

TEST_F(SealedFilePathTest, RoundTripsThroughFilesWithMode0600) {
  const std::string plain = Plain(2 * kChunk + 7);
  WriteFile(Path("plain"), plain);
  absl::StatusOr<SealStats> s =
      SealFile(Path("plain"), Path("sealed"), kKeyId, a_.public_key, kChunk);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->chunks, 3u);
  struct stat st {};
  ASSERT_EQ(::stat(Path("sealed").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), s->sealed_bytes);
  EXPECT_TRUE(LooksSealed(ReadFile(Path("sealed"))));

  ASSERT_THAT(UnsealFile(Path("sealed"), Path("back"), a_.private_key), IsOk());
  EXPECT_EQ(ReadFile(Path("back")), plain);
  ASSERT_EQ(::stat(Path("back").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  ASSERT_THAT(UnsealFile(Path("sealed"), Path("back-0640"), a_.private_key, 0640), IsOk());
  ASSERT_EQ(::stat(Path("back-0640").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0700, 0600u);  // the group bits depend on the umask
}

TEST_F(SealedFilePathTest, NeverOverwritesOrFollowsSymlinks) {
  WriteFile(Path("plain"), "data");
  WriteFile(Path("exists"), "keep me");
  ASSERT_EQ(::symlink(Path("target").c_str(), Path("link").c_str()), 0);
  EXPECT_THAT(SealFile(Path("plain"), Path("exists"), kKeyId, a_.public_key),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(ReadFile(Path("exists")), "keep me");
  EXPECT_THAT(SealFile(Path("plain"), Path("link"), kKeyId, a_.public_key),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_FALSE(Exists(Path("target")));
  EXPECT_THAT(SealFile(Path("missing"), Path("out"), kKeyId, a_.public_key),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_FALSE(Exists(Path("out")));
}

TEST_F(SealedFilePathTest, KeyAFilePresentedWithKeyBCreatesNoOutput) {
  WriteFile(Path("plain"), Plain(100));
  ASSERT_THAT(SealFile(Path("plain"), Path("sealed"), kKeyId, a_.public_key), IsOk());
  absl::StatusOr<SealStats> r = UnsealFile(Path("sealed"), Path("out"), b_.private_key);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(std::string(r.status().message()),
              StartsWith("unseal " + Path("sealed") +
                         ": the data key could not be unwrapped with key dataset-a"));
  EXPECT_FALSE(Exists(Path("out")));
}

TEST_F(SealedFilePathTest, NotSealedInputCreatesNoOutput) {
  WriteFile(Path("plain"), "plain text, not sealed");
  absl::StatusOr<SealStats> r = UnsealFile(Path("plain"), Path("out"), a_.private_key);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("not a SafeFlow sealed file"));
  EXPECT_FALSE(Exists(Path("out")));
}

TEST_F(SealedFilePathTest, FailedUnsealRemovesThePartialOutput) {
  const std::string plain = Plain(3 * kChunk);
  WriteFile(Path("plain"), plain);
  ASSERT_THAT(SealFile(Path("plain"), Path("sealed"), kKeyId, a_.public_key, kChunk), IsOk());
  std::string bad = ReadFile(Path("sealed"));
  bad[ChunkAt(2) + 1] ^= 0x01;
  WriteFile(Path("bad"), bad);
  absl::StatusOr<SealStats> r = UnsealFile(Path("bad"), Path("out"), a_.private_key);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("chunk 2 failed authentication"));
  EXPECT_FALSE(Exists(Path("out")));
}

}  // namespace
}  // namespace safeflow::executor::crypto
