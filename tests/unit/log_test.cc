#include "service/log.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "spdlog/details/log_msg.h"

namespace safeflow::service {
namespace {

TEST(JsonLogFormatterTest, EmitsOneParseableObjectPerLine) {
  auto f = NewJsonFormatter();
  spdlog::details::log_msg msg("store", spdlog::level::warn, "quote \" newline \n done");
  spdlog::memory_buf_t buf;
  f->format(msg, buf);
  std::string line(buf.data(), buf.size());
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // the embedded newline is escaped
  nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "warning");
  EXPECT_EQ(j["logger"], "store");
  EXPECT_EQ(j["msg"], "quote \" newline \n done");
  EXPECT_TRUE(j["ts"].get<std::string>().ends_with("Z"));
}

}  // namespace
}  // namespace safeflow::service
