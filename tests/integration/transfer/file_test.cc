// file:// inputs and outputs on the real filesystem: roots, "..", symlinks leading out of a
// root (to files, through directories, inside directory inputs), limits, and outputs written to
// a temporary name and renamed into place.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/transfer/transfer.h"
#include "tests/integration/transfer/dir_listing.h"
#include "tests/testing/integration.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::executor::transfer {
namespace {

namespace fs = std::filesystem;
using ::safeflow::testing::IsOk;
using ::safeflow::testing::IsOkAndHolds;
using ::safeflow::testing::StatusIs;
using ::safeflow::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Code = absl::StatusCode;

void WriteFile(const std::string& path, std::string_view content) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

unsigned Mode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// Relative paths of everything below `dir` ("sub/" for directories), sorted.
using ::safeflow::testing::Entries;
using ::safeflow::testing::Tree;

class FileTransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    in_ = tmp_.path() + "/in";
    out_ = tmp_.path() + "/out";
    outside_ = tmp_.path() + "/outside";
    staging_ = tmp_.path() + "/staging";
    for (const std::string& d : {in_, out_, outside_, staging_}) fs::create_directories(d);
    WriteFile(outside_ + "/secret.txt", "secret\n");
    config_.input_roots = {in_};
    config_.output_roots = {out_};
  }
  static std::string Url(const std::string& path) { return "file://" + path; }

  TempDir tmp_;
  std::string in_, out_, outside_, staging_;
  TransferConfig config_;
};

TEST_F(FileTransferTest, FileInsideRootIsFetched) {
  WriteFile(in_ + "/a b.txt", "hello");
  const std::string dest = staging_ + "/inputs/a.txt";
  EXPECT_THAT(CheckInputUrl(config_, Url(in_ + "/a%20b.txt")), IsOk());
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/a%20b.txt"), dest, false), IsOkAndHolds(5u));
  EXPECT_EQ(ReadFile(dest), "hello");
  EXPECT_EQ(Mode(dest), 0644u);
  EXPECT_THAT(Entries(staging_ + "/inputs"), ElementsAre("a.txt"));  // no temporary left
}

TEST_F(FileTransferTest, FetchReplacesAnExistingFileAndEmptyDirectory) {
  WriteFile(in_ + "/a.txt", "new");
  WriteFile(in_ + "/d/x", "x");
  WriteFile(staging_ + "/a.txt", "old old old");
  fs::create_directories(staging_ + "/d");
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/a.txt"), staging_ + "/a.txt", false), IsOk());
  EXPECT_EQ(ReadFile(staging_ + "/a.txt"), "new");
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/d"), staging_ + "/d", true), IsOk());
  EXPECT_EQ(ReadFile(staging_ + "/d/x"), "x");
  // A non-empty directory is not replaced.
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/d"), staging_ + "/d", true),
              StatusIs(Code::kAlreadyExists));
  EXPECT_THAT(Entries(staging_), ElementsAre("a.txt", "d"));
}

TEST_F(FileTransferTest, DirectoryInsideRootIsFetched) {
  WriteFile(in_ + "/dir/x.txt", "x");
  WriteFile(in_ + "/dir/sub/y.txt", "yy");
  WriteFile(in_ + "/dir/sub/deeper/z.bin", std::string("z\0z", 3));
  WriteFile(in_ + "/dir/name with space & \xc3\xa9.txt", "1234");
  fs::create_directories(in_ + "/dir/empty");
  WriteFile(in_ + "/elsewhere.txt", "linked");
  fs::create_symlink(in_ + "/elsewhere.txt", in_ + "/dir/link.txt");  // inside the root
  fs::create_directory_symlink(in_ + "/dir/sub/deeper", in_ + "/dir/linkdir");
  const std::string dest = staging_ + "/dir";
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/dir"), dest, true),
              IsOkAndHolds(1u + 2u + 3u + 4u + 6u + 3u));
  EXPECT_THAT(Tree(dest), ElementsAre("empty/", "link.txt", "linkdir/", "linkdir/z.bin",
                                      "name with space & \xc3\xa9.txt", "sub/", "sub/deeper/",
                                      "sub/deeper/z.bin", "sub/y.txt", "x.txt"));
  EXPECT_EQ(ReadFile(dest + "/link.txt"), "linked");  // a copy, not a link
  EXPECT_FALSE(fs::is_symlink(dest + "/link.txt"));
  EXPECT_EQ(ReadFile(dest + "/sub/deeper/z.bin"), std::string("z\0z", 3));
  EXPECT_EQ(Mode(dest), 0755u);
  EXPECT_EQ(Mode(dest + "/sub"), 0755u);
  EXPECT_EQ(Mode(dest + "/x.txt"), 0644u);
  EXPECT_THAT(Entries(staging_), ElementsAre("dir"));
}

TEST_F(FileTransferTest, DotDotIsRejected) {
  for (const std::string& url :
       {Url(in_ + "/../outside/secret.txt"), Url(in_ + "/%2e%2e/outside/secret.txt"),
        Url(in_ + "/%2E%2e/outside/secret.txt"), Url(in_ + "/./x")}) {
    EXPECT_THAT(CheckInputUrl(config_, url), StatusIs(Code::kInvalidArgument)) << url;
    EXPECT_THAT(FetchInput(config_, url, staging_ + "/x", false), StatusIs(Code::kInvalidArgument))
        << url;
  }
  EXPECT_THAT(Entries(staging_), IsEmpty());
}

TEST_F(FileTransferTest, PathsOutsideTheRootsAreDenied) {
  EXPECT_THAT(CheckInputUrl(config_, Url(outside_ + "/secret.txt")),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(FetchInput(config_, Url(outside_ + "/secret.txt"), staging_ + "/s", false),
              StatusIs(Code::kPermissionDenied));
  // A sibling whose name merely starts like the root.
  WriteFile(in_ + "put/x", "x");
  EXPECT_THAT(FetchInput(config_, Url(in_ + "put/x"), staging_ + "/s", false),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(Entries(staging_), IsEmpty());
}

TEST_F(FileTransferTest, SymlinkInsideRootPointingOutsideIsDenied) {
  fs::create_symlink(outside_ + "/secret.txt", in_ + "/escape.txt");
  EXPECT_THAT(CheckInputUrl(config_, Url(in_ + "/escape.txt")), StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/escape.txt"), staging_ + "/e", false),
              StatusIs(Code::kPermissionDenied));
  // Through a symlinked directory, also for a path that does not exist (yet).
  fs::create_directory_symlink(outside_, in_ + "/escapedir");
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/escapedir/secret.txt"), staging_ + "/e", false),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(CheckInputUrl(config_, Url(in_ + "/escapedir/not-yet.txt")),
              StatusIs(Code::kPermissionDenied));
  // A relative symlink climbing out.
  fs::create_symlink("../outside/secret.txt", in_ + "/relative.txt");
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/relative.txt"), staging_ + "/e", false),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(Entries(staging_), IsEmpty());
}

TEST_F(FileTransferTest, DirectoryWithAnEscapingSymlinkIsDeniedAndLeavesNothing) {
  WriteFile(in_ + "/dir/a.txt", "a");
  WriteFile(in_ + "/dir/sub/b.txt", "b");
  fs::create_symlink(outside_ + "/secret.txt", in_ + "/dir/sub/zz-escape.txt");
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/dir"), staging_ + "/dir", true),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(Entries(staging_), IsEmpty());

  fs::remove(in_ + "/dir/sub/zz-escape.txt");
  fs::create_directory_symlink(outside_, in_ + "/dir/sub/escapedir");
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/dir"), staging_ + "/dir", true),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(Entries(staging_), IsEmpty());
}

TEST_F(FileTransferTest, SymlinkCyclesAndDanglingLinksFail) {
  WriteFile(in_ + "/cyc/a.txt", "a");
  fs::create_directory_symlink(in_ + "/cyc", in_ + "/cyc/self");
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/cyc"), staging_ + "/cyc", true),
              StatusIs(Code::kInvalidArgument));
  WriteFile(in_ + "/dangling/a.txt", "a");
  fs::create_symlink(in_ + "/nowhere", in_ + "/dangling/broken");
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/dangling"), staging_ + "/d", true),
              StatusIs(Code::kNotFound));
  EXPECT_THAT(Entries(staging_), IsEmpty());
}

TEST_F(FileTransferTest, MissingInputIsNotFoundAtFetchOnly) {
  EXPECT_THAT(CheckInputUrl(config_, Url(in_ + "/later/x.txt")), IsOk());
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/later/x.txt"), staging_ + "/x", false),
              StatusIs(Code::kNotFound));
}

TEST_F(FileTransferTest, TypeMismatchesAreInvalid) {
  WriteFile(in_ + "/f.txt", "f");
  WriteFile(in_ + "/d/x", "x");
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/f.txt"), staging_ + "/f", true),
              StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/d"), staging_ + "/d", false),
              StatusIs(Code::kInvalidArgument));
  ASSERT_EQ(::mkfifo((in_ + "/fifo").c_str(), 0600), 0);
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/fifo"), staging_ + "/p", false),
              StatusIs(Code::kInvalidArgument));
  // Inside a directory input, special files are skipped (and never opened).
  ASSERT_EQ(::mkfifo((in_ + "/d/fifo").c_str(), 0600), 0);
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/d"), staging_ + "/d", true), IsOkAndHolds(1u));
  EXPECT_THAT(Tree(staging_ + "/d"), ElementsAre("x"));
}

TEST_F(FileTransferTest, SizeLimitIsEnforced) {
  WriteFile(in_ + "/five.txt", "12345");
  WriteFile(in_ + "/dir/a", "123");
  WriteFile(in_ + "/dir/b", "456");
  config_.max_input_bytes = 5;
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/five.txt"), staging_ + "/five", false),
              IsOkAndHolds(5u));
  config_.max_input_bytes = 4;
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/five.txt"), staging_ + "/four", false),
              StatusIs(Code::kResourceExhausted));
  config_.max_input_bytes = 5;
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/dir"), staging_ + "/dir", true),
              StatusIs(Code::kResourceExhausted));
  EXPECT_THAT(Entries(staging_), ElementsAre("five"));
}

TEST_F(FileTransferTest, TimeoutIsEnforced) {
  WriteFile(in_ + "/a.txt", "a");
  config_.timeout = std::chrono::seconds(0);
  EXPECT_THAT(FetchInput(config_, Url(in_ + "/a.txt"), staging_ + "/a", false),
              StatusIs(Code::kDeadlineExceeded));
  EXPECT_THAT(Entries(staging_), IsEmpty());
}

TEST_F(FileTransferTest, RootsThatAreSymlinksWork) {
  fs::create_directory_symlink(in_, tmp_.path() + "/in-link");
  WriteFile(in_ + "/a.txt", "a");
  config_.input_roots = {tmp_.path() + "/in-link/"};
  EXPECT_THAT(FetchInput(config_, Url(tmp_.path() + "/in-link/a.txt"), staging_ + "/a", false),
              IsOkAndHolds(1u));
}

TEST_F(FileTransferTest, OutputIsWrittenUnderTheRootWithParents) {
  WriteFile(staging_ + "/result.txt", "result\n");
  const std::string dest = out_ + "/run 1/sub/result.txt";
  EXPECT_THAT(CheckOutputUrl(config_, Url(out_ + "/run%201/sub/result.txt")), IsOk());
  EXPECT_THAT(PutOutput(config_, staging_ + "/result.txt", Url(out_ + "/run%201/sub/result.txt")),
              IsOkAndHolds(7u));
  EXPECT_EQ(ReadFile(dest), "result\n");
  EXPECT_EQ(Mode(dest), 0640u);
  EXPECT_THAT(Tree(out_), ElementsAre("run 1/", "run 1/sub/", "run 1/sub/result.txt"));
  // Wildcard outputs: JoinUrl builds the URL of each file.
  WriteFile(staging_ + "/odd %#?.txt", "odd");
  EXPECT_THAT(PutOutput(config_, staging_ + "/odd %#?.txt",
                        JoinUrl(Url(out_ + "/run%201/"), "odd %#?.txt")),
              IsOkAndHolds(3u));
  EXPECT_EQ(ReadFile(out_ + "/run 1/odd %#?.txt"), "odd");
}

TEST_F(FileTransferTest, OutputReplacesByRename) {
  WriteFile(out_ + "/r.txt", "old");
  // A hard link keeps the old inode: if the new data had been written in place, it would
  // show through the link.
  fs::create_hard_link(out_ + "/r.txt", outside_ + "/old-inode");
  WriteFile(staging_ + "/r.txt", "new content");
  EXPECT_THAT(PutOutput(config_, staging_ + "/r.txt", Url(out_ + "/r.txt")), IsOkAndHolds(11u));
  EXPECT_EQ(ReadFile(out_ + "/r.txt"), "new content");
  EXPECT_EQ(ReadFile(outside_ + "/old-inode"), "old");
  EXPECT_THAT(Entries(out_), ElementsAre("r.txt"));
  // A failed upload leaves the old file and no temporary.
  EXPECT_THAT(PutOutput(config_, staging_ + "/missing.txt", Url(out_ + "/r.txt")),
              StatusIs(Code::kNotFound));
  EXPECT_EQ(ReadFile(out_ + "/r.txt"), "new content");
  EXPECT_THAT(Entries(out_), ElementsAre("r.txt"));
  // An existing output symlink is replaced, not followed.
  fs::create_symlink(out_ + "/r.txt", out_ + "/link.txt");
  EXPECT_THAT(PutOutput(config_, staging_ + "/r.txt", Url(out_ + "/link.txt")), IsOk());
  EXPECT_FALSE(fs::is_symlink(out_ + "/link.txt"));
}

TEST_F(FileTransferTest, OutputOutsideTheRootIsRefused) {
  WriteFile(staging_ + "/r.txt", "r");
  EXPECT_THAT(CheckOutputUrl(config_, Url(outside_ + "/r.txt")), StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(PutOutput(config_, staging_ + "/r.txt", Url(outside_ + "/r.txt")),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(PutOutput(config_, staging_ + "/r.txt", Url(out_ + "/../outside/r.txt")),
              StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(PutOutput(config_, staging_ + "/r.txt", Url(in_ + "/r.txt")),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(PutOutput(config_, staging_ + "/r.txt", Url(out_)), StatusIs(Code::kInvalidArgument));
  // A symlinked directory under the root leading outside.
  fs::create_directory_symlink(outside_, out_ + "/escape");
  EXPECT_THAT(CheckOutputUrl(config_, Url(out_ + "/escape/new/r.txt")),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(PutOutput(config_, staging_ + "/r.txt", Url(out_ + "/escape/r.txt")),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(PutOutput(config_, staging_ + "/r.txt", Url(out_ + "/escape/new/r.txt")),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(Entries(outside_), ElementsAre("secret.txt"));
}

TEST_F(FileTransferTest, OutputSourceMustNotBeASymlink) {
  // A task could otherwise publish any host file as its output.
  fs::create_symlink(outside_ + "/secret.txt", staging_ + "/leak.txt");
  EXPECT_THAT(PutOutput(config_, staging_ + "/leak.txt", Url(out_ + "/leak.txt")),
              StatusIs(Code::kPermissionDenied));
  fs::create_directory_symlink(outside_, staging_ + "/leakdir");
  EXPECT_THAT(PutOutput(config_, staging_ + "/leakdir/secret.txt", Url(out_ + "/leak.txt")),
              StatusIs(Code::kPermissionDenied));
  fs::create_directories(staging_ + "/adir");
  EXPECT_THAT(PutOutput(config_, staging_ + "/adir", Url(out_ + "/adir")),
              StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(Entries(out_), IsEmpty());
}

}  // namespace
}  // namespace safeflow::executor::transfer
