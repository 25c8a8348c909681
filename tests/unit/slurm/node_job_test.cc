// The job description safeflowd writes for safeflow-node, and the events file it reads back.
#include "executor/hpc/node_job.h"

#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace safeflow::executor::hpc {
namespace {

namespace tes = schemas::tes;
using ::testing::HasSubstr;

NodeJob SampleJob() {
  NodeJob j;
  j.attempt.task_id = "abc";
  j.attempt.attempt = 2;
  j.attempt.project = "demo";
  j.attempt.backend = "slurm";
  tes::Executor e;
  e.image = "ubuntu";
  e.command = {"echo", "hi"};
  j.attempt.task.executors.push_back(e);
  j.scratch_dir = "/scratch";
  j.events_path = "/shared/abc.2/events.jsonl";
  j.claim_path = "/shared/abc.2/claimed";
  j.worker_path = "/usr/lib/safeflow/safeflow-worker";
  j.run_as_user = "safeflow-worker";
  j.images = {{"ubuntu", "/"}};
  j.max_task_seconds = 900;
  j.transfer.input_roots = {"/data"};
  j.transfer.s3 = transfer::S3Config{};
  j.transfer.s3->endpoint = "http://127.0.0.1:9000";
  j.transfer.s3->secret_access_key = "s3cret";
  j.extra_env = {"ASAN_OPTIONS=x"};
  j.enclave = true;
  j.platform_key_file = "/var/lib/safeflow/enclave/platform.pem";
  j.relay.base_url = "https://tre.example:8443";
  j.relay.relay_token = "sfr1.a.b";
  j.relay.output_key_id = "key-1";
  j.relay.output_public_key = std::string(32, '\x07');
  return j;
}

TEST(NodeJobTest, RoundTrips) {
  const NodeJob j = SampleJob();
  absl::StatusOr<NodeJob> back = ParseNodeJob(SerializeNodeJob(j));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->attempt.task_id, "abc");
  EXPECT_EQ(back->attempt.attempt, 2);
  EXPECT_EQ(back->attempt.project, "demo");
  EXPECT_EQ(back->attempt.task, j.attempt.task);
  EXPECT_EQ(back->images, j.images);
  EXPECT_EQ(back->max_task_seconds, 900);
  ASSERT_TRUE(back->transfer.s3.has_value());
  EXPECT_EQ(back->transfer.s3->secret_access_key, "s3cret");
  EXPECT_EQ(back->transfer.input_roots, j.transfer.input_roots);
  EXPECT_TRUE(back->enclave);
  EXPECT_EQ(back->relay.relay_token, "sfr1.a.b");
  EXPECT_EQ(back->relay.output_public_key, j.relay.output_public_key);
  EXPECT_EQ(back->extra_env, j.extra_env);
}

TEST(NodeJobTest, RefusesOtherVersionsAndBadFields) {
  nlohmann::json doc = nlohmann::json::parse(SerializeNodeJob(SampleJob()));
  doc["version"] = 2;
  absl::StatusOr<NodeJob> v = ParseNodeJob(doc.dump());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("same release"));

  doc = nlohmann::json::parse(SerializeNodeJob(SampleJob()));
  doc["attempt"]["attempt"] = "two";
  absl::StatusOr<NodeJob> bad = ParseNodeJob(doc.dump());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("attempt.attempt"));

  doc = nlohmann::json::parse(SerializeNodeJob(SampleJob()));
  doc["relay"].erase("relay_token");
  EXPECT_THAT(std::string(ParseNodeJob(doc.dump()).status().message()),
              HasSubstr("relay.relay_token: missing"));
  EXPECT_FALSE(ParseNodeJob("not json").ok());
  EXPECT_FALSE(ParseNodeJob("[]").ok());
}

TEST(NodeEventsTest, LinesRoundTrip) {
  tes::TaskLog log;
  log.system_logs = {"a"};
  tes::ExecutorLog el;
  el.exit_code = 3;
  el.stdout_text = "x\n";
  log.logs.push_back(el);
  for (const NodeEvent& e :
       {NodeEvent(NodeStarted{"node1", 42}), NodeEvent(NodeRunning{}), NodeEvent(NodeProgress{log}),
        NodeEvent(NodeFinished{tes::State::kExecutorError, log})}) {
    const std::string line = NodeEventToLine(e);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    absl::StatusOr<NodeEvent> back = ParseNodeEventLine(line);
    ASSERT_TRUE(back.ok()) << back.status() << " " << line;
    EXPECT_EQ(back->index(), e.index());
  }
  absl::StatusOr<NodeEvent> f =
      ParseNodeEventLine(NodeEventToLine(NodeFinished{tes::State::kComplete, log}));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(std::get<NodeFinished>(*f).log, log);
  // A finished event must carry a final state.
  EXPECT_FALSE(ParseNodeEventLine(R"({"event":"finished","state":"RUNNING","log":{}})").ok());
  EXPECT_FALSE(ParseNodeEventLine(R"({"event":"what"})").ok());
  EXPECT_FALSE(ParseNodeEventLine("{").ok());
}

TEST(NodeEventsTest, ReaderTakesWholeLinesOnlyAndSkipsBadOnes) {
  char tmpl[] = "/tmp/node-events-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/events.jsonl";
  std::uint64_t offset = 0;
  int bad = 0;
  // A missing file is no events.
  ASSERT_TRUE(ReadNodeEvents(path, offset, bad).ok());
  EXPECT_EQ(offset, 0u);
  ASSERT_TRUE(AppendNodeEvent(path, NodeRunning{}, false).ok());
  {
    std::ofstream f(path, std::ios::app);
    f << "garbage\n"
      << R"({"event":"runn)";  // a torn tail
  }
  absl::StatusOr<std::vector<NodeEvent>> first = ReadNodeEvents(path, offset, bad);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->size(), 1u);
  EXPECT_EQ(bad, 1);
  {
    std::ofstream f(path, std::ios::app);
    f << "ing\"}\n";
  }
  absl::StatusOr<std::vector<NodeEvent>> second = ReadNodeEvents(path, offset, bad);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 1u);
  EXPECT_TRUE(std::holds_alternative<NodeRunning>(second->front()));
  EXPECT_EQ(offset, std::filesystem::file_size(path));
  // Nothing new: nothing read.
  EXPECT_TRUE(ReadNodeEvents(path, offset, bad)->empty());
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace safeflow::executor::hpc
