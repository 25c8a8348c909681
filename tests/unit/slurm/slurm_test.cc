// The pure SLURM layer: the state table, sbatch/squeue/scontrol/scancel argv, the job id,
// squeue/scontrol/jobcomp parsers on hand-made edge cases, and the batch script template.
// Parsers on real SLURM output are in slurm_testdata_test.cc.
#include "executor/slurm/slurm.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/env.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::executor::slurm {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::IsOkAndHolds;
using ::safeflow::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Code = absl::StatusCode;
using TesState = schemas::tes::State;

// ----- States -------------------------------------------------------------------------------

struct Expected {
  const char* name;
  Phase phase;
  TesState tes;
};

constexpr Expected kExpected[] = {
    {"PENDING", Phase::kQueued, TesState::kInitializing},
    {"CONFIGURING", Phase::kQueued, TesState::kInitializing},
    {"REQUEUED", Phase::kQueued, TesState::kInitializing},
    {"REQUEUE_HOLD", Phase::kQueued, TesState::kInitializing},
    {"REQUEUE_FED", Phase::kQueued, TesState::kInitializing},
    {"RESV_DEL_HOLD", Phase::kQueued, TesState::kInitializing},
    {"RUNNING", Phase::kRunning, TesState::kRunning},
    {"COMPLETING", Phase::kRunning, TesState::kRunning},
    {"RESIZING", Phase::kRunning, TesState::kRunning},
    {"SIGNALING", Phase::kRunning, TesState::kRunning},
    {"STAGE_OUT", Phase::kRunning, TesState::kRunning},
    {"SUSPENDED", Phase::kSuspended, TesState::kPaused},
    {"STOPPED", Phase::kSuspended, TesState::kPaused},
    {"COMPLETED", Phase::kEnded, TesState::kComplete},
    {"FAILED", Phase::kEnded, TesState::kExecutorError},
    {"SPECIAL_EXIT", Phase::kEnded, TesState::kExecutorError},
    {"TIMEOUT", Phase::kEnded, TesState::kExecutorError},
    {"OUT_OF_MEMORY", Phase::kEnded, TesState::kExecutorError},
    {"DEADLINE", Phase::kEnded, TesState::kExecutorError},
    {"NODE_FAIL", Phase::kEnded, TesState::kSystemError},
    {"BOOT_FAIL", Phase::kEnded, TesState::kSystemError},
    {"REVOKED", Phase::kEnded, TesState::kSystemError},
    {"PREEMPTED", Phase::kEnded, TesState::kPreempted},
    {"CANCELLED", Phase::kEnded, TesState::kSystemError},
};

TEST(StateTableTest, EveryStateMapsToItsTesStateAndPhase) {
  ASSERT_EQ(StateTable().size(), std::size(kExpected));
  std::set<std::string_view> names;
  for (const StateInfo& info : StateTable()) {
    EXPECT_TRUE(names.insert(info.name).second) << "duplicate " << info.name;
    EXPECT_FALSE(info.meaning.empty()) << info.name;
  }
  for (const Expected& e : kExpected) {
    const StateInfo* info = LookupState(e.name);
    ASSERT_NE(info, nullptr) << e.name;
    EXPECT_EQ(info->name, e.name);
    EXPECT_EQ(info->phase, e.phase) << e.name;
    EXPECT_EQ(info->tes, e.tes) << e.name << " -> " << schemas::tes::StateName(info->tes);
  }
}

TEST(StateTableTest, EndedExactlyForTerminalTesStates) {
  for (const StateInfo& info : StateTable()) {
    EXPECT_EQ(info.phase == Phase::kEnded, schemas::tes::IsTerminal(info.tes)) << info.name;
  }
}

TEST(StateTableTest, MeaningsSayWhatHappened) {
  EXPECT_THAT(std::string(LookupState("TIMEOUT")->meaning), HasSubstr("--time"));
  EXPECT_THAT(std::string(LookupState("OUT_OF_MEMORY")->meaning), HasSubstr("--mem"));
  EXPECT_THAT(std::string(LookupState("CANCELLED")->meaning), HasSubstr("outside SafeFlow"));
}

TEST(LookupStateTest, ToleratesDecorations) {
  for (const char* text : {"CANCELLED by 0", "cancelled", "CANCELLED+", "  CANCELLED \n",
                           "Cancelled by 1000", "cancelled+ "}) {
    const StateInfo* info = LookupState(text);
    ASSERT_NE(info, nullptr) << text;
    EXPECT_EQ(info->name, "CANCELLED") << text;
  }
  EXPECT_EQ(LookupState("completed")->tes, TesState::kComplete);
  EXPECT_EQ(LookupState("out_of_memory")->name, "OUT_OF_MEMORY");
}

TEST(LookupStateTest, UnknownIsNull) {
  for (const char* text :
       {"", " ", "+", "BOGUS", "CD", "RUN", "RUNNINGX", "COMPLETED_X", "by 0", "PENDING;RUNNING"}) {
    EXPECT_EQ(LookupState(text), nullptr) << text;
  }
}

// ----- sbatch -------------------------------------------------------------------------------

SubmitOptions FullOptions() {
  SubmitOptions o;
  o.job_name = "safeflow-task_1.a2";
  o.script_path = "/var/lib/safeflow/jobs/t1/job.sh";
  o.work_dir = "/var/lib/safeflow/jobs/t1";
  o.output_path = "/var/lib/safeflow/jobs/t1/slurm.out";
  o.cpus_per_task = 4;
  o.mem_mib = 2048;
  o.time_minutes = 90;
  o.partition = "debug";
  o.account = "proj-42";
  o.qos = "normal";
  return o;
}

TEST(SbatchArgvTest, FullOptionSet) {
  EXPECT_THAT(
      SbatchArgv("/usr/bin/sbatch", FullOptions()),
      IsOkAndHolds(ElementsAre(
          "/usr/bin/sbatch", "--parsable", "--job-name=safeflow-task_1.a2", "--cpus-per-task=4",
          "--mem=2048M", "--time=90", "--chdir=/var/lib/safeflow/jobs/t1",
          "--output=/var/lib/safeflow/jobs/t1/slurm.out", "--no-requeue", "--partition=debug",
          "--account=proj-42", "--qos=normal", "/var/lib/safeflow/jobs/t1/job.sh")));
}

TEST(SbatchArgvTest, OptionalFieldsOmittedWhenEmpty) {
  SubmitOptions o = FullOptions();
  o.partition.clear();
  o.account.clear();
  o.qos.clear();
  o.cpus_per_task = 1;
  o.mem_mib = 1;
  o.time_minutes = 1;
  EXPECT_THAT(SbatchArgv("sbatch", o),
              IsOkAndHolds(ElementsAre("sbatch", "--parsable", "--job-name=safeflow-task_1.a2",
                                       "--cpus-per-task=1", "--mem=1M", "--time=1",
                                       "--chdir=/var/lib/safeflow/jobs/t1",
                                       "--output=/var/lib/safeflow/jobs/t1/slurm.out",
                                       "--no-requeue", "/var/lib/safeflow/jobs/t1/job.sh")));
}

TEST(SbatchArgvTest, AccountIsNeverShortA) {
  SubmitOptions o = FullOptions();
  o.account = "a";
  absl::StatusOr<std::vector<std::string>> argv = SbatchArgv("sbatch", o);
  ASSERT_THAT(argv, IsOk());
  EXPECT_THAT(*argv, ::testing::Contains("--account=a"));
  for (const std::string& arg : *argv) {
    EXPECT_FALSE(arg.size() >= 2 && arg[0] == '-' && arg[1] == 'a') << arg;  // -a is --array
  }
}

// The error names the field.
void ExpectRefused(const SubmitOptions& o, const std::string& field) {
  absl::StatusOr<std::vector<std::string>> argv = SbatchArgv("sbatch", o);
  EXPECT_THAT(argv, StatusIs(Code::kInvalidArgument)) << field;
  EXPECT_THAT(argv.status().message(), HasSubstr(field));
}

TEST(SbatchArgvTest, RefusesZeroResources) {
  SubmitOptions o = FullOptions();
  o.mem_mib = 0;  // would mean "the whole node"
  ExpectRefused(o, "mem_mib");
  o = FullOptions();
  o.time_minutes = 0;
  ExpectRefused(o, "time_minutes");
  o.time_minutes = -5;
  ExpectRefused(o, "time_minutes");
  o = FullOptions();
  o.cpus_per_task = 0;
  ExpectRefused(o, "cpus_per_task");
}

TEST(SbatchArgvTest, RefusesBadNames) {
  for (const std::string& bad :
       {std::string(), std::string("a b"), std::string("x;rm"), std::string("--array=1-9"),
        std::string("näme"), std::string(129, 'n'), std::string("a\nb")}) {
    SubmitOptions o = FullOptions();
    o.job_name = bad;
    ExpectRefused(o, "job_name");
  }
  SubmitOptions ok = FullOptions();
  ok.job_name = std::string(128, 'n');
  EXPECT_THAT(SbatchArgv("sbatch", ok), IsOk());
  for (const std::string& bad : {std::string("a b"), std::string(65, 'p'), std::string("a,b")}) {
    SubmitOptions o = FullOptions();
    o.partition = bad;
    ExpectRefused(o, "partition");
    o = FullOptions();
    o.account = bad;
    ExpectRefused(o, "account");
    o = FullOptions();
    o.qos = bad;
    ExpectRefused(o, "qos");
  }
}

TEST(SbatchArgvTest, RefusesBadPaths) {
  SubmitOptions o = FullOptions();
  o.script_path = "job.sh";
  ExpectRefused(o, "script_path");
  o.script_path = "";
  ExpectRefused(o, "script_path");
  o = FullOptions();
  o.work_dir = "relative/dir";
  ExpectRefused(o, "work_dir");
  o.work_dir = "/tmp/a\nb";
  ExpectRefused(o, "work_dir");
  o = FullOptions();
  o.output_path = "";
  ExpectRefused(o, "output_path");
  o.output_path = "/tmp/slurm-%j.out";  // sbatch would expand %j
  ExpectRefused(o, "output_path");
  o.output_path = "/tmp/a\\b";
  ExpectRefused(o, "output_path");
  o = FullOptions();
  o.script_path = "/" + std::string(5000, 'x');
  ExpectRefused(o, "script_path");
  EXPECT_THAT(SbatchArgv("", FullOptions()), StatusIs(Code::kInvalidArgument));
}

TEST(MemMiBTest, RoundsUpToWholeMiB) {
  EXPECT_EQ(MemMiB(0.5), 512u);
  EXPECT_EQ(MemMiB(1), 1024u);
  EXPECT_EQ(MemMiB(1.0001), 1025u);
  EXPECT_EQ(MemMiB(0.3), 308u);  // 307.2
  EXPECT_EQ(MemMiB(16), 16384u);
  EXPECT_EQ(MemMiB(1e-9), 1u);
}

TEST(MemMiBTest, NothingUsableGivesOne) {
  EXPECT_EQ(MemMiB(0), 1u);
  EXPECT_EQ(MemMiB(-2), 1u);
  EXPECT_EQ(MemMiB(std::nan("")), 1u);
  EXPECT_EQ(MemMiB(std::numeric_limits<double>::infinity()), 1u);
  EXPECT_EQ(MemMiB(-std::numeric_limits<double>::infinity()), 1u);
}

TEST(MemMiBTest, HugeValuesAreClamped) {
  EXPECT_EQ(MemMiB(1e30), std::uint64_t{1} << 40);
  EXPECT_EQ(MemMiB(std::numeric_limits<double>::max()), std::uint64_t{1} << 40);
}

TEST(ParseJobIdTest, AcceptsParsableOutput) {
  EXPECT_THAT(ParseJobId("1234\n"), IsOkAndHolds("1234"));
  EXPECT_THAT(ParseJobId("42;cluster\n"), IsOkAndHolds("42"));
  EXPECT_THAT(ParseJobId("42;my-cluster.2"), IsOkAndHolds("42"));
  EXPECT_THAT(ParseJobId("  7 \r\n"), IsOkAndHolds("7"));
  EXPECT_THAT(ParseJobId("4294967295\n"), IsOkAndHolds("4294967295"));
}

TEST(ParseJobIdTest, RefusesAnythingElse) {
  for (const char* bad :
       {"", "\n", "   ", "abc", "Submitted batch job 42\n", "1234_1\n", "42;\n", "42;a b\n", "-1\n",
        "+5\n", "0\n", "4294967296\n", "12345678901\n", "1 2\n", "42\n43\n", "4 2", ";cluster",
        "0x10",
        "sbatch: error: Batch job submission failed: Invalid account or account/partition "
        "combination specified\n"}) {
    EXPECT_THAT(ParseJobId(bad), StatusIs(Code::kInvalidArgument)) << bad;
  }
}

TEST(ParseJobIdTest, ErrorQuotesABoundedPrefix) {
  const std::string long_error = "sbatch: error: " + std::string(5000, 'e');
  absl::StatusOr<std::string> r = ParseJobId(long_error);
  ASSERT_THAT(r, StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(r.status().message(), HasSubstr("sbatch: error: eee"));
  EXPECT_LT(r.status().message().size(), 400u);
  EXPECT_THAT(ParseJobId("bad\nline").status().message(), HasSubstr("bad\\nline"));
}

// ----- squeue -------------------------------------------------------------------------------

TEST(SqueueTest, Argv) {
  EXPECT_THAT(SqueueArgv("squeue", {"12", "13"}),
              ElementsAre("squeue", "--noheader", "--states=all", "--jobs=12,13",
                          "--format=%i|%T|%r|%j|%N"));
  EXPECT_THAT(SqueueArgv("/opt/slurm/bin/squeue", {"7"}),
              ElementsAre("/opt/slurm/bin/squeue", "--noheader", "--states=all", "--jobs=7",
                          "--format=%i|%T|%r|%j|%N"));
  EXPECT_THAT(SqueueByNameArgv("squeue", "safeflow-t1-a1"),
              ElementsAre("squeue", "--noheader", "--states=all", "--name=safeflow-t1-a1",
                          "--format=%i|%T|%r|%j|%N"));
}

TEST(ParseSqueueTest, HandMadeLines) {
  absl::StatusOr<std::vector<JobInfo>> jobs = ParseSqueue(
      "42|RUNNING|None|safeflow-t1-a1|node[1-2]\n"
      "43|PENDING|Resources|odd|name|\n"
      "\n"
      "44|cancelled by 0|None|x|node3\n"
      "45|WEIRD_NEW_STATE|None|y|\n");
  ASSERT_THAT(jobs, IsOk());
  ASSERT_EQ(jobs->size(), 4u);
  EXPECT_EQ((*jobs)[0].job_id, "42");
  EXPECT_EQ((*jobs)[0].state, "RUNNING");
  EXPECT_EQ((*jobs)[0].reason, "None");
  EXPECT_EQ((*jobs)[0].name, "safeflow-t1-a1");
  EXPECT_EQ((*jobs)[0].nodes, "node[1-2]");
  EXPECT_FALSE((*jobs)[0].exit_code.has_value());
  EXPECT_EQ((*jobs)[1].name, "odd|name");  // the name keeps its '|'
  EXPECT_EQ((*jobs)[1].reason, "Resources");
  EXPECT_EQ((*jobs)[1].nodes, "");
  EXPECT_EQ((*jobs)[2].state, "CANCELLED");        // normalised
  EXPECT_EQ((*jobs)[3].state, "WEIRD_NEW_STATE");  // unknown: kept as printed
}

TEST(ParseSqueueTest, EmptyOutputIsNoJobs) {
  EXPECT_THAT(ParseSqueue(""), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(ParseSqueue("\n  \n"), IsOkAndHolds(IsEmpty()));
}

TEST(ParseSqueueTest, MalformedLineIsAnError) {
  for (const char* bad : {"42|RUNNING\n", "42|RUNNING|None|name\n", "garbage\n",
                          "|RUNNING|None|n|x\n", "42||None|n|x\n"}) {
    absl::StatusOr<std::vector<JobInfo>> r = ParseSqueue(bad);
    EXPECT_THAT(r, StatusIs(Code::kInvalidArgument)) << bad;
  }
}

TEST(ParseSqueueTest, ControllerDownIsUnavailable) {
  EXPECT_THAT(ParseSqueue("42|RUNNING|None|a|b\nslurm_load_jobs error: Unable to contact slurm "
                          "controller (connect failure)\n"),
              StatusIs(Code::kUnavailable));
}

// ----- scontrol -----------------------------------------------------------------------------

// SLURM 22.05's `scontrol --oneliner show job` layout, by hand.
constexpr char kScontrolOneLine[] =
    "JobId=17 JobName=safeflow-t9-a1 UserId=root(0) GroupId=root(0) MCS_label=N/A "
    "Priority=4294901757 Nice=0 Account=(null) QOS=(null) JobState=FAILED "
    "Reason=NonZeroExitCode Dependency=(null) Requeue=0 Restarts=0 BatchFlag=1 Reboot=0 "
    "ExitCode=3:0 RunTime=00:00:02 TimeLimit=00:05:00 TimeMin=N/A "
    "SubmitTime=2024-11-21T14:00:00 EligibleTime=2024-11-21T14:00:00 AccrueTime=Unknown "
    "StartTime=2024-11-21T14:00:00 EndTime=2024-11-21T14:00:02 Deadline=N/A "
    "Partition=debug AllocNode:Sid=host:4242 ReqNodeList=(null) ExcNodeList=(null) "
    "NodeList=localhost BatchHost=localhost NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 "
    "ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=100M,node=1,billing=1 Socks/Node=* "
    "NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=100M MinTmpDiskNode=0 "
    "Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) "
    "Network=(null) Command=/tmp/jobs/t9/job.sh WorkDir=/tmp/jobs/t9 "
    "StdErr=/tmp/jobs/t9/slurm.out StdIn=/dev/null StdOut=/tmp/jobs/t9/slurm.out Power=\n";

TEST(ParseScontrolShowJobTest, OneLineRecord) {
  absl::StatusOr<JobInfo> job = ParseScontrolShowJob(kScontrolOneLine);
  ASSERT_THAT(job, IsOk());
  EXPECT_EQ(job->job_id, "17");
  EXPECT_EQ(job->name, "safeflow-t9-a1");
  EXPECT_EQ(job->state, "FAILED");
  EXPECT_EQ(job->reason, "NonZeroExitCode");
  EXPECT_EQ(job->exit_code, 3);
  EXPECT_EQ(job->signal, std::nullopt);
  EXPECT_EQ(job->nodes, "localhost");
  EXPECT_EQ(job->time_limit, "00:05:00");
  EXPECT_EQ(job->run_time, "00:00:02");
}

TEST(ParseScontrolShowJobTest, MultiLineRecordAndSpacesInValues) {
  // The default (not --oneliner) layout, and a job name with spaces.
  absl::StatusOr<JobInfo> job = ParseScontrolShowJob(
      "JobId=18 JobName=my job name\n"
      "   UserId=u(1000) GroupId=g(1000) MCS_label=N/A\n"
      "   JobState=CANCELLED Reason=None Dependency=(null)\n"
      "   ExitCode=0:15 RunTime=00:01:00 TimeLimit=UNLIMITED TimeMin=N/A\n"
      "   NodeList=(null)\n"
      "   Power=\n\n");
  ASSERT_THAT(job, IsOk());
  EXPECT_EQ(job->job_id, "18");
  EXPECT_EQ(job->name, "my job name");
  EXPECT_EQ(job->state, "CANCELLED");
  EXPECT_EQ(job->exit_code, 0);
  EXPECT_EQ(job->signal, 15);
  EXPECT_EQ(job->nodes, "(null)");
  EXPECT_EQ(job->time_limit, "UNLIMITED");
}

TEST(ParseScontrolShowJobTest, SignalAndOddStates) {
  absl::StatusOr<JobInfo> job = ParseScontrolShowJob(
      "JobId=19 JobName=x JobState=CANCELLED by 0 Reason=None ExitCode=0:9 NodeList=n1\n");
  ASSERT_THAT(job, IsOk());
  EXPECT_EQ(job->state, "CANCELLED");
  EXPECT_EQ(job->exit_code, 0);
  EXPECT_EQ(job->signal, 9);
  job = ParseScontrolShowJob("JobId=20 JobState=SOMETHING_NEW ExitCode=bad\n");
  ASSERT_THAT(job, IsOk());
  EXPECT_EQ(job->state, "SOMETHING_NEW");
  EXPECT_EQ(job->name, "");
  EXPECT_EQ(job->reason, "");
  EXPECT_EQ(job->exit_code, std::nullopt);
  EXPECT_EQ(job->signal, std::nullopt);
}

TEST(ParseScontrolShowJobTest, FirstRecordWins) {
  absl::StatusOr<JobInfo> job = ParseScontrolShowJob(
      "JobId=21 ArrayJobId=21 ArrayTaskId=1 JobName=a JobState=COMPLETED\n"
      "JobId=22 ArrayJobId=21 ArrayTaskId=2 JobName=a JobState=RUNNING\n");
  ASSERT_THAT(job, IsOk());
  EXPECT_EQ(job->job_id, "21");
  EXPECT_EQ(job->state, "COMPLETED");
}

TEST(ParseScontrolShowJobTest, InvalidJobIdIsNotFound) {
  EXPECT_THAT(ParseScontrolShowJob("slurm_load_jobs error: Invalid job id specified\n"),
              StatusIs(Code::kNotFound));
}

TEST(ParseScontrolShowJobTest, MalformedIsInvalidArgument) {
  for (const char* bad :
       {"", "\n", "garbage", "JobName=x JobState=RUNNING\n", "JobId=5 JobName=x\n",
        "JobId= JobState=RUNNING\n", "JobId=5 JobState=\n"}) {
    EXPECT_THAT(ParseScontrolShowJob(bad), StatusIs(Code::kInvalidArgument)) << bad;
  }
}

TEST(ParseScontrolShowJobTest, ControllerDownIsUnavailable) {
  EXPECT_THAT(ParseScontrolShowJob(
                  "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n"),
              StatusIs(Code::kUnavailable));
}

TEST(SlurmMessagesTest, RecognisesInvalidIdAndControllerDown) {
  EXPECT_TRUE(IsInvalidJobIdMessage("slurm_load_jobs error: Invalid job id specified\n"));
  EXPECT_TRUE(IsInvalidJobIdMessage(
      "scancel: error: Kill job error on job id 99: Invalid job id specified\n"));
  EXPECT_FALSE(IsInvalidJobIdMessage("JobId=5 JobState=RUNNING"));
  EXPECT_TRUE(IsControllerUnreachableMessage(
      "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n"));
  EXPECT_TRUE(IsControllerUnreachableMessage(
      "squeue: error: slurm_receive_msg: Socket timed out on send/recv operation\n"));
  EXPECT_FALSE(IsControllerUnreachableMessage("slurm_load_jobs error: Invalid job id specified"));
  EXPECT_FALSE(IsControllerUnreachableMessage(""));
}

TEST(ArgvTest, ScontrolAndScancel) {
  EXPECT_THAT(ScontrolShowJobArgv("scontrol", "42"),
              ElementsAre("scontrol", "--oneliner", "show", "job", "42"));
  EXPECT_THAT(ScancelArgv("/usr/bin/scancel", "42"), ElementsAre("/usr/bin/scancel", "42"));
}

// ----- jobcomp ------------------------------------------------------------------------------

std::string JobcompLine(const std::string& id, const std::string& name, const std::string& state,
                        const std::string& exit) {
  return "JobId=" + id + " UserId=root(0) GroupId=root(0) Name=" + name + " JobState=" + state +
         " Partition=debug TimeLimit=5 StartTime=2024-11-21T14:00:00 "
         "EndTime=2024-11-21T14:00:01 NodeList=localhost NodeCnt=1 ProcCnt=1 WorkDir=/tmp/w "
         "ReservationName= Tres=cpu=1,mem=100M,node=1,billing=1 Account= QOS= WcKey= "
         "Cluster=unknown SubmitTime=2024-11-21T14:00:00 EligibleTime=2024-11-21T14:00:00 "
         "DerivedExitCode=0:0 ExitCode=" +
         exit + " \n";
}

TEST(ParseJobcompTest, RecordsLaterOnesWinAndGarbageIsSkipped) {
  const std::string log = JobcompLine("5", "safeflow-a", "COMPLETED", "0:0") +
                          "this line is garbage\n" + "JobId=99 Name=no-state\n" +
                          JobcompLine("6", "safeflow-b", "FAILED", "3:0") + "\n" +
                          JobcompLine("5", "safeflow-a", "TIMEOUT", "0:15") +
                          JobcompLine("7", "safeflow-c", "NODE_FAIL", "0:0");
  std::vector<JobInfo> jobs = ParseJobcomp(log.substr(0, log.size() - 2));  // a cut last line
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0].job_id, "5");
  EXPECT_EQ(jobs[0].name, "safeflow-a");
  EXPECT_EQ(jobs[0].state, "TIMEOUT");  // the later record
  EXPECT_EQ(jobs[0].exit_code, 0);
  EXPECT_EQ(jobs[0].signal, 15);
  EXPECT_EQ(jobs[0].nodes, "localhost");
  EXPECT_EQ(jobs[0].time_limit, "5");
  EXPECT_EQ(jobs[0].reason, "");
  EXPECT_EQ(jobs[1].job_id, "6");
  EXPECT_EQ(jobs[1].state, "FAILED");
  EXPECT_EQ(jobs[1].exit_code, 3);
  EXPECT_EQ(jobs[1].signal, std::nullopt);
  EXPECT_EQ(jobs[2].job_id, "7");
  EXPECT_EQ(jobs[2].state, "NODE_FAIL");
  EXPECT_THAT(ParseJobcomp(""), IsEmpty());
}

// ----- The batch script ---------------------------------------------------------------------

TEST(ShellQuoteTest, SingleQuotesEverything) {
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote("$HOME `x` \\"), "'$HOME `x` \\'");
}

TEST(RenderJobScriptTest, ExactText) {
  JobScript s;
  s.task_id = "t-123";
  s.attempt = 2;
  s.node_program = "/usr/lib/safeflow/safeflow-node";
  s.job_file = "/var/lib/safeflow/jobs/t-123/job.json";
  s.env = {"SAFEFLOW_TOKEN=abc", "_X1=a=b"};
  EXPECT_THAT(RenderJobScript(s),
              IsOkAndHolds("#!/bin/sh\n"
                           "# SafeFlow task 't-123' attempt 2\n"
                           "# Generated by SafeFlow: runs the node agent for this attempt.\n"
                           "set -eu\n"
                           "export SAFEFLOW_TOKEN='abc'\n"
                           "export _X1='a=b'\n"
                           "exec '/usr/lib/safeflow/safeflow-node' run --job "
                           "'/var/lib/safeflow/jobs/t-123/job.json'\n"));
}

TEST(RenderJobScriptTest, QuotesPathsWithQuotesAndSpaces) {
  JobScript s;
  s.task_id = "t";
  s.node_program = "/opt/it's here/safeflow-node";
  s.job_file = "/jobs/a b/job.json";
  absl::StatusOr<std::string> script = RenderJobScript(s);
  ASSERT_THAT(script, IsOk());
  EXPECT_THAT(*script, HasSubstr("exec '/opt/it'\\''s here/safeflow-node' run --job "
                                 "'/jobs/a b/job.json'\n"));
}

TEST(RenderJobScriptTest, RefusesBadInput) {
  JobScript good;
  good.task_id = "t";
  good.node_program = "/bin/node";
  good.job_file = "/j.json";
  for (const char* bad_env : {"1X=a", "A-B=c", "A B=c", "=v", "NOEQUALS", "X.Y=1", "É=1"}) {
    JobScript s = good;
    s.env = {"OK=1", bad_env};
    absl::StatusOr<std::string> r = RenderJobScript(s);
    EXPECT_THAT(r, StatusIs(Code::kInvalidArgument)) << bad_env;
    EXPECT_THAT(r.status().message(), HasSubstr("env")) << bad_env;
  }
  JobScript s = good;
  s.node_program = "safeflow-node";
  EXPECT_THAT(RenderJobScript(s), StatusIs(Code::kInvalidArgument));
  s = good;
  s.job_file = "";
  EXPECT_THAT(RenderJobScript(s), StatusIs(Code::kInvalidArgument));
  s = good;
  s.task_id = "t\nrm -rf /";  // a newline would end the comment line
  EXPECT_THAT(RenderJobScript(s), StatusIs(Code::kInvalidArgument));
  s = good;
  s.env = {std::string("K=a\0b", 5)};
  EXPECT_THAT(RenderJobScript(s), StatusIs(Code::kInvalidArgument));
}

class RenderJobScriptShellTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/jobscript.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    ASSERT_FALSE(ec) << ec.message();
  }
  std::string dir_;
};

TEST_F(RenderJobScriptShellTest, PassesShSyntaxCheckAndRunsTheNodeProgram) {
  // A stand-in node agent at a path with a quote and a space; it prints what it received.
  const std::string agent_dir = dir_ + "/it's here";
  ASSERT_EQ(::mkdir(agent_dir.c_str(), 0755), 0);
  JobScript s;
  s.task_id = "task 'quoted' $(x)";
  s.attempt = 3;
  s.node_program = agent_dir + "/safeflow-node";
  s.job_file = dir_ + "/a b/job's.json";
  s.env = {"SAFEFLOW_A=it's $HOME `id` \\n", "SAFEFLOW_B=", "SAFEFLOW_C=line1\nline2"};
  std::ofstream(s.node_program)
      << "#!/bin/sh\nprintf '%s|' \"$1\" \"$2\" \"$3\" \"$SAFEFLOW_A\" \"$SAFEFLOW_B\" "
         "\"$SAFEFLOW_C\"\n";
  ASSERT_EQ(::chmod(s.node_program.c_str(), 0755), 0);
  absl::StatusOr<std::string> script = RenderJobScript(s);
  ASSERT_THAT(script, IsOk());
  const std::string script_path = dir_ + "/job.sh";
  std::ofstream(script_path) << *script;

  absl::StatusOr<CommandResult> check =
      DefaultEnv().Run(Command{.argv = {"sh", "-n", script_path}});
  ASSERT_THAT(check, IsOk());
  EXPECT_EQ(check->exit_code, 0) << check->err;

  absl::StatusOr<CommandResult> run = DefaultEnv().Run(Command{.argv = {"sh", script_path}});
  ASSERT_THAT(run, IsOk());
  EXPECT_EQ(run->exit_code, 0) << run->err;
  EXPECT_EQ(run->out, "run|--job|" + s.job_file + "|it's $HOME `id` \\n||line1\nline2|");
}

}  // namespace
}  // namespace safeflow::executor::slurm
