// The SLURM parsers on real output of SLURM 22.05 (Debian 12), captured from a one-host
// cluster: tests/unit/slurm/testdata/README.md says how each file was made.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/slurm/slurm.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::executor::slurm {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::IsOkAndHolds;
using ::safeflow::testing::StatusIs;
using ::testing::IsEmpty;
using Code = absl::StatusCode;
using TesState = schemas::tes::State;

std::string Testdata(const std::string& name) {
  const std::string path = SAFEFLOW_SOURCE_DIR "/tests/unit/slurm/testdata/" + name;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "missing " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The files marked "stdout+stderr" in the README have "exit code: N" lines appended.
std::string WithoutExitCodeLines(const std::string& text) {
  std::istringstream in(text);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("exit code:", 0) != 0) out += line + "\n";
  }
  return out;
}

// The "stderr: ..." lines of squeue_ctld_down.txt, which is a transcript.
std::vector<std::string> TranscriptStderr(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("stderr: ", 0) == 0) lines.push_back(line.substr(8));
  }
  return lines;
}

TEST(SlurmTestdataTest, SbatchParsable) {
  EXPECT_THAT(ParseJobId(Testdata("sbatch_parsable.txt")), IsOkAndHolds("2"));
}

TEST(SlurmTestdataTest, SbatchErrorsAreNotJobIds) {
  for (const char* file : {"sbatch_bad_partition.txt", "sbatch_too_much_memory.txt"}) {
    EXPECT_THAT(ParseJobId(Testdata(file)), StatusIs(Code::kInvalidArgument)) << file;
  }
}

TEST(SlurmTestdataTest, SqueueMixed) {
  absl::StatusOr<std::vector<JobInfo>> jobs = ParseSqueue(Testdata("squeue_mixed.txt"));
  ASSERT_THAT(jobs, IsOk());
  ASSERT_EQ(jobs->size(), 10u);
  struct Row {
    const char* id;
    const char* state;
    const char* reason;
    const char* name;
    const char* nodes;
  };
  // squeue sorts by state, not in --jobs order.
  const Row expected[] = {
      {"4", "RUNNING", "None", "sf-running", "localhost"},
      {"8", "CANCELLED", "None", "sf-cancel-trap", "localhost"},
      {"9", "CANCELLED", "None", "sf-cancelled", "localhost"},
      {"10", "CANCELLED", "BeginTime", "sf-cancel-pending", ""},
      {"2", "COMPLETED", "None", "sf-completed", "localhost"},
      {"3", "FAILED", "NonZeroExitCode", "sf-failed", "localhost"},
      {"7", "FAILED", "JobLaunchFailure", "sf-oom", "localhost"},
      {"5", "PENDING", "BeginTime", "sf-pending", ""},
      {"6", "PENDING", "JobHeldUser", "sf-held", ""},
      {"1", "TIMEOUT", "TimeLimit", "sf-timeout", "localhost"},
  };
  for (std::size_t i = 0; i < std::size(expected); ++i) {
    const JobInfo& job = (*jobs)[i];
    EXPECT_EQ(job.job_id, expected[i].id);
    EXPECT_EQ(job.state, expected[i].state) << job.job_id;
    EXPECT_EQ(job.reason, expected[i].reason) << job.job_id;
    EXPECT_EQ(job.name, expected[i].name) << job.job_id;
    EXPECT_EQ(job.nodes, expected[i].nodes) << job.job_id;
    EXPECT_NE(LookupState(job.state), nullptr) << job.state;
  }
}

TEST(SlurmTestdataTest, SqueueUnknownIds) {
  // One unknown id: an error on stderr, exit 1. Several: only the known ones, exit 0.
  const std::string single = WithoutExitCodeLines(Testdata("squeue_unknown_job.txt"));
  EXPECT_TRUE(IsInvalidJobIdMessage(single));
  EXPECT_FALSE(IsControllerUnreachableMessage(single));
  EXPECT_THAT(ParseSqueue(WithoutExitCodeLines(Testdata("squeue_unknown_jobs_multi.txt"))),
              IsOkAndHolds(IsEmpty()));
  absl::StatusOr<std::vector<JobInfo>> known =
      ParseSqueue(WithoutExitCodeLines(Testdata("squeue_known_and_unknown.txt")));
  ASSERT_THAT(known, IsOk());
  ASSERT_EQ(known->size(), 1u);
  EXPECT_EQ((*known)[0].job_id, "4");
  EXPECT_EQ((*known)[0].state, "RUNNING");
}

struct ScontrolCase {
  const char* file;
  const char* id;
  const char* name;
  const char* state;
  const char* reason;
  std::optional<int> exit_code;
  std::optional<int> signal;
  const char* nodes;
  const char* time_limit;
  const char* run_time;
  TesState tes;
};

TEST(SlurmTestdataTest, ScontrolShowJob) {
  const ScontrolCase cases[] = {
      {"scontrol_completed.txt", "2", "sf-completed", "COMPLETED", "None", 0, std::nullopt,
       "localhost", "UNLIMITED", "00:00:00", TesState::kComplete},
      {"scontrol_failed.txt", "3", "sf-failed", "FAILED", "NonZeroExitCode", 3, std::nullopt,
       "localhost", "UNLIMITED", "00:00:00", TesState::kExecutorError},
      {"scontrol_running.txt", "4", "sf-running", "RUNNING", "None", 0, std::nullopt, "localhost",
       "UNLIMITED", "00:01:26", TesState::kRunning},
      {"scontrol_pending.txt", "5", "sf-pending", "PENDING", "BeginTime", 0, std::nullopt, "",
       "UNLIMITED", "00:00:00", TesState::kInitializing},
      {"scontrol_held.txt", "6", "sf-held", "PENDING", "JobHeldUser", 0, std::nullopt, "",
       "UNLIMITED", "00:00:00", TesState::kInitializing},
      // Killed for memory by jobacct_gather (no cgroups): FAILED with signal 9.
      {"scontrol_oom.txt", "7", "sf-oom", "FAILED", "JobLaunchFailure", 0, 9, "localhost",
       "UNLIMITED", "00:00:02", TesState::kExecutorError},
      {"scontrol_cancelled.txt", "9", "sf-cancelled", "CANCELLED", "None", 0, 15, "localhost",
       "UNLIMITED", "00:00:01", TesState::kSystemError},
      {"scontrol_timeout.txt", "1", "sf-timeout", "TIMEOUT", "TimeLimit", 0, 15, "localhost",
       "00:01:00", "00:01:27", TesState::kExecutorError},
  };
  for (const ScontrolCase& c : cases) {
    SCOPED_TRACE(c.file);
    absl::StatusOr<JobInfo> job = ParseScontrolShowJob(Testdata(c.file));
    ASSERT_THAT(job, IsOk());
    EXPECT_EQ(job->job_id, c.id);
    EXPECT_EQ(job->name, c.name);
    EXPECT_EQ(job->state, c.state);
    EXPECT_EQ(job->reason, c.reason);
    EXPECT_EQ(job->exit_code, c.exit_code);
    EXPECT_EQ(job->signal, c.signal);
    EXPECT_EQ(job->nodes, c.nodes);
    EXPECT_EQ(job->time_limit, c.time_limit);
    EXPECT_EQ(job->run_time, c.run_time);
    const StateInfo* info = LookupState(job->state);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->tes, c.tes);
  }
}

TEST(SlurmTestdataTest, ScontrolUnknownJobIsNotFound) {
  EXPECT_THAT(ParseScontrolShowJob(Testdata("scontrol_unknown_job.txt")),
              StatusIs(Code::kNotFound));
}

TEST(SlurmTestdataTest, ScontrolReasonWithSpaces) {
  // Seen for jobs submitted just after slurmctld restarts (README): the reason has a space.
  std::string text = Testdata("scontrol_pending.txt");
  const std::string from = "Reason=BeginTime ";
  const std::size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, from.size(), "Reason=ReqNodeNotAvail, UnavailableNodes:localhost ");
  absl::StatusOr<JobInfo> job = ParseScontrolShowJob(text);
  ASSERT_THAT(job, IsOk());
  EXPECT_EQ(job->reason, "ReqNodeNotAvail, UnavailableNodes:localhost");
  EXPECT_EQ(job->state, "PENDING");
}

TEST(SlurmTestdataTest, Jobcomp) {
  const std::vector<JobInfo> jobs = ParseJobcomp(Testdata("jobcomp.log"));
  ASSERT_EQ(jobs.size(), 7u);
  struct Row {
    const char* id;
    const char* name;
    const char* state;
    int exit_code;
    std::optional<int> signal;
    const char* nodes;
    const char* time_limit;
  };
  // jobcomp loses the signal of cancelled and timed-out jobs (ExitCode=0:0).
  const Row expected[] = {
      {"2", "sf-completed", "COMPLETED", 0, std::nullopt, "localhost", "UNLIMITED"},
      {"3", "sf-failed", "FAILED", 3, std::nullopt, "localhost", "UNLIMITED"},
      {"9", "sf-cancelled", "CANCELLED", 0, std::nullopt, "localhost", "UNLIMITED"},
      {"8", "sf-cancel-trap", "CANCELLED", 0, std::nullopt, "localhost", "UNLIMITED"},
      {"7", "sf-oom", "FAILED", 0, 9, "localhost", "UNLIMITED"},
      {"10", "sf-cancel-pending", "CANCELLED", 0, std::nullopt, "(null)", "UNLIMITED"},
      {"1", "sf-timeout", "TIMEOUT", 0, std::nullopt, "localhost", "1"},
  };
  for (std::size_t i = 0; i < std::size(expected); ++i) {
    SCOPED_TRACE(expected[i].id);
    EXPECT_EQ(jobs[i].job_id, expected[i].id);
    EXPECT_EQ(jobs[i].name, expected[i].name);
    EXPECT_EQ(jobs[i].state, expected[i].state);
    EXPECT_EQ(jobs[i].exit_code, expected[i].exit_code);
    EXPECT_EQ(jobs[i].signal, expected[i].signal);
    EXPECT_EQ(jobs[i].nodes, expected[i].nodes);
    EXPECT_EQ(jobs[i].time_limit, expected[i].time_limit);
    EXPECT_EQ(jobs[i].reason, "");
  }
}

TEST(SlurmTestdataTest, JobcompRequeuedJobLaterRecordWins) {
  const std::string log = Testdata("jobcomp.log");
  std::string requeued = log.substr(0, log.find('\n') + 1);  // job 2, COMPLETED
  const std::string from = "JobState=COMPLETED";
  requeued.replace(requeued.find(from), from.size(), "JobState=NODE_FAIL");
  const std::vector<JobInfo> jobs = ParseJobcomp(requeued + log);
  ASSERT_EQ(jobs.size(), 7u);
  EXPECT_EQ(jobs[0].job_id, "2");
  EXPECT_EQ(jobs[0].state, "COMPLETED");
}

TEST(SlurmTestdataTest, ControllerDown) {
  const std::vector<std::string> errors = TranscriptStderr(Testdata("squeue_ctld_down.txt"));
  ASSERT_EQ(errors.size(), 5u);  // squeue, sbatch, scancel, scontrol, sinfo
  for (const std::string& err : errors) {
    EXPECT_TRUE(IsControllerUnreachableMessage(err)) << err;
    EXPECT_FALSE(IsInvalidJobIdMessage(err)) << err;
  }
  EXPECT_THAT(ParseSqueue(errors[0]), StatusIs(Code::kUnavailable));
  EXPECT_THAT(ParseScontrolShowJob(errors[3]), StatusIs(Code::kUnavailable));
  EXPECT_THAT(ParseJobId(""), StatusIs(Code::kInvalidArgument));  // sbatch's empty stdout
}

TEST(SlurmTestdataTest, ScancelMessages) {
  EXPECT_TRUE(IsInvalidJobIdMessage(Testdata("scancel_unknown_job.txt")));
  EXPECT_FALSE(IsInvalidJobIdMessage(Testdata("scancel_completed_job.txt")));
}

}  // namespace
}  // namespace safeflow::executor::slurm
