// The "file_type" rule: allowed extensions, data files and archives in disguise, text that
// must be UTF-8, signatures of images and PDFs, JSON that parses, and active content or
// external references in SVG and HTML.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/disclosure/filter.h"

namespace safeflow::executor::disclosure {
namespace {

using ::testing::HasSubstr;

class FileTypeTest : public ::testing::Test {
 protected:
  Finding Check(std::string path, std::string_view content) {
    content_ = std::string(content);
    input_.name = path;
    input_.path = std::move(path);
    input_.content = content_;
    input_.size_bytes = content_.size();
    const FileContext context{input_, profile_, nullptr, "", history_};
    std::optional<Finding> finding = filter_->Apply(context);
    EXPECT_TRUE(finding.has_value()) << "file_type applies to every file";
    return finding.value_or(Finding{});
  }

  const std::unique_ptr<OutputFilter> filter_ = NewFileTypeFilter();
  Profile profile_;
  std::string content_;
  FileInput input_;
  const std::vector<ReleasedTable> history_;
};

constexpr std::string_view kPng("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", 16);

constexpr std::string_view kSvg =
    "<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"no\"?>\n"
    "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\"\n"
    "  \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n"
    "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\"\n"
    "     width=\"460\" height=\"345\">\n"
    " <metadata><rdf:RDF><cc:Work><dc:type rdf:resource=\"http://purl.org/dc/dcmitype/\"/>\n"
    "  <dc:creator><cc:Agent><dc:title>Matplotlib, https://matplotlib.org/</dc:title>\n"
    "  </cc:Agent></dc:creator></cc:Work></rdf:RDF></metadata>\n"
    " <defs><linearGradient id=\"g\"/></defs>\n"
    " <rect fill=\"url(#g)\" width=\"10\" height=\"10\"/>\n"
    " <use xlink:href=\"#g\"/>\n"
    " <text x=\"1\" y=\"2\">a &lt; b, onset=3</text>\n"
    "</svg>\n";

TEST_F(FileTypeTest, NameAndParameters) {
  EXPECT_EQ(filter_->Name(), "file_type");
  const Finding finding = Check("t.csv", "a,b\n1,2\n");
  EXPECT_EQ(finding.rule, "file_type");
  EXPECT_EQ(finding.outcome, Verdict::kPass);
  EXPECT_EQ(finding.parameters["allowed_extensions"].size(), profile_.allowed_extensions.size());
}

TEST_F(FileTypeTest, ExtensionMustBeAllowedIgnoringCase) {
  EXPECT_EQ(Check("T.CSV", "a\n1\n").outcome, Verdict::kPass);
  const Finding finding = Check("data.xlsx", "x");
  EXPECT_EQ(finding.outcome, Verdict::kFail);
  EXPECT_THAT(finding.message, HasSubstr(".xlsx is not allowed"));
  EXPECT_EQ(Check("model.rds", "x").outcome, Verdict::kFail);
  EXPECT_EQ(Check("Makefile", "all:").outcome, Verdict::kFail);
  EXPECT_THAT(Check("Makefile", "all:").message, HasSubstr("no extension"));
  EXPECT_EQ(Check("out.csv.gz", "\x1f\x8b").outcome, Verdict::kFail);
}

TEST_F(FileTypeTest, ProfileDecidesTheExtensions) {
  profile_.allowed_extensions = {".csv", "TXT"};
  EXPECT_EQ(Check("a.txt", "x").outcome, Verdict::kPass);
  EXPECT_EQ(Check("a.png", kPng).outcome, Verdict::kFail);
}

TEST_F(FileTypeTest, DataFilesAndArchivesInDisguiseFail) {
  const std::vector<std::pair<std::string, std::string>> disguised = {
      {"sealed", std::string("\x89SFSEAL\nrest", 12)},
      {"zip", std::string("PK\x03\x04\x14\x00", 6)},
      {"gzip", std::string("\x1f\x8b\x08\x00", 4)},
      {"sqlite", std::string("SQLite format 3\x00", 16)},
      {"parquet", std::string("PAR1") + std::string(8, 'x') + "PAR1"},
      {"elf", std::string("\x7f"
                          "ELF\x02\x01",
                          6)},
      {"rdata", "RDX3\nX\n"},
      {"rds xdr", std::string("X\n\x00\x00\x00\x03\x00\x04", 8)},
      {"rds ascii", "A\n3\n263169\n"},
      {"stata", "<stata_dta><header>"},
  };
  for (const auto& [what, content] : disguised) {
    const Finding finding = Check("table.csv", content);
    EXPECT_EQ(finding.outcome, Verdict::kFail) << what;
    EXPECT_THAT(finding.message, HasSubstr("in disguise")) << what;
  }
  EXPECT_EQ(Check("figure.png", std::string("PK\x03\x04", 4)).outcome, Verdict::kFail);
}

TEST_F(FileTypeTest, TextThatMerelyStartsLikeAMagicNumberPasses) {
  EXPECT_EQ(Check("t.csv", "PAR1,PAR2\n1,2\n").outcome, Verdict::kPass);
  EXPECT_EQ(Check("t.txt", "A\nB\n").outcome, Verdict::kPass);
  EXPECT_EQ(Check("t.txt", "X\nY\n").outcome, Verdict::kPass);
  EXPECT_EQ(Check("t.txt", "BZh, a word\n").outcome, Verdict::kPass);
  EXPECT_EQ(Check("t.txt", "MZ region\n").outcome, Verdict::kPass);
}

TEST_F(FileTypeTest, TextMustBeUtf8WithoutNul) {
  EXPECT_EQ(Check("t.txt",
                  "Gr\xc3\xb6\xc3\x9f"
                  "e\n")
                .outcome,
            Verdict::kPass);
  Finding finding = Check("t.csv", "a\nlatin1 \xe9t\xe9\n");
  EXPECT_EQ(finding.outcome, Verdict::kFail);
  EXPECT_THAT(finding.message, HasSubstr("not valid UTF-8 (byte 9)"));
  ASSERT_EQ(finding.cells.size(), 1u);
  EXPECT_EQ(finding.cells[0].row, 2u);
  finding = Check("t.csv", std::string("\xff\xfe"
                                       "a\x00,\x00",
                                       6));  // UTF-16 LE
  EXPECT_EQ(finding.outcome, Verdict::kFail);
  EXPECT_THAT(finding.message, HasSubstr("NUL"));
  EXPECT_EQ(Check("empty.txt", "").outcome, Verdict::kPass);
}

TEST_F(FileTypeTest, ImagesAndPdfsNeedTheirSignatures) {
  EXPECT_EQ(Check("f.png", kPng).outcome, Verdict::kPass);
  EXPECT_EQ(Check("f.png", "\x89PNG\r\n").outcome, Verdict::kFail);  // truncated signature
  EXPECT_EQ(Check("f.png", "GIF89a").outcome, Verdict::kFail);
  EXPECT_EQ(Check("f.pdf", "%PDF-1.7\n...").outcome, Verdict::kPass);
  EXPECT_EQ(Check("f.pdf", "a,b\n").outcome, Verdict::kFail);
  EXPECT_EQ(Check("f.pdf", "").outcome, Verdict::kFail);
}

TEST_F(FileTypeTest, JsonMustParse) {
  EXPECT_EQ(Check("m.json", "{\"df_resid\": 71}").outcome, Verdict::kPass);
  EXPECT_EQ(Check("m.json", "\xef\xbb\xbf[1, 2]").outcome, Verdict::kPass);
  EXPECT_EQ(Check("m.json", "{\"a\": 1,}").outcome, Verdict::kFail);
  EXPECT_EQ(Check("m.json", "{\"a\": 1} trailing").outcome, Verdict::kFail);
  EXPECT_EQ(Check("m.json", "").outcome, Verdict::kFail);
  EXPECT_EQ(Check("m.json", std::string(100000, '[')).outcome, Verdict::kFail);
}

TEST_F(FileTypeTest, MatplotlibStyleSvgPasses) {
  const Finding finding = Check("figure.svg", kSvg);
  EXPECT_EQ(finding.outcome, Verdict::kPass) << finding.message;
}

TEST_F(FileTypeTest, ScriptsAndEventHandlersFail) {
  Finding finding = Check("f.svg", "<svg>\n<SCRIPT>alert(1)</SCRIPT></svg>");
  EXPECT_EQ(finding.outcome, Verdict::kFail);
  EXPECT_THAT(finding.message, HasSubstr("<script>"));
  ASSERT_FALSE(finding.cells.empty());
  EXPECT_EQ(finding.cells[0].row, 2u);
  EXPECT_EQ(Check("f.svg", "<svg onload=\"x()\"></svg>").outcome, Verdict::kFail);
  EXPECT_EQ(Check("f.html", "<body><img src=x OnError = 'y()'></body>").outcome, Verdict::kFail);
  EXPECT_EQ(Check("f.svg", "<svg><svg:script/></svg>").outcome, Verdict::kFail);
  EXPECT_EQ(Check("f.html", "<a href=\"javascript:alert(1)\">x</a>").outcome, Verdict::kFail);
  EXPECT_EQ(Check("f.html", "<a href=\"&#106;ava&#x09;script:alert(1)\">x</a>").outcome,
            Verdict::kFail);
  EXPECT_EQ(Check("f.html", "<iframe srcdoc=\"x\"></iframe>").outcome, Verdict::kFail);
}

TEST_F(FileTypeTest, ExternalReferencesFail) {
  EXPECT_EQ(Check("f.svg", "<svg><image href=\"https://x.org/a.png\"/></svg>").outcome,
            Verdict::kFail);
  EXPECT_EQ(Check("f.svg", "<svg><use xlink:href='http://x.org/s.svg#a'/></svg>").outcome,
            Verdict::kFail);
  EXPECT_EQ(Check("f.html", "<img src=file:///etc/passwd>").outcome, Verdict::kFail);
  EXPECT_EQ(Check("f.html", "<img src=\"//cdn.example.org/p.gif\">").outcome, Verdict::kFail);
  EXPECT_EQ(Check("f.html", "<link rel=stylesheet href=\"HTTPS://cdn.example.org/a.css\">").outcome,
            Verdict::kFail);
  EXPECT_EQ(Check("f.svg", "<svg><rect style=\"fill: url('http://x.org/p')\"/></svg>").outcome,
            Verdict::kFail);
  EXPECT_EQ(Check("f.html", "<style>@import 'a.css';</style>").outcome, Verdict::kFail);
  EXPECT_EQ(
      Check("f.html", "<meta http-equiv=\"refresh\" content=\"0; url=https://x.org\">").outcome,
      Verdict::kFail);
}

TEST_F(FileTypeTest, LocalReferencesAndLinksInTextPass) {
  EXPECT_EQ(Check("f.html",
                  "<p>See https://example.org for details.</p><a href=\"#s2\">s2</a>"
                  "<img src=\"data:image/png;base64,AAAA\">")
                .outcome,
            Verdict::kPass);
  EXPECT_EQ(Check("f.md", "<script> in markdown is text for this rule").outcome, Verdict::kPass);
}

TEST_F(FileTypeTest, UnterminatedMarkupDoesNotCrash) {
  for (std::string_view text :
       {"<", "<svg", "<svg a=\"", "<!--", "<![CDATA[", "<a href=", "url(", "<svg x='1' y",
        "<a href=\"&#xffffffffff;\">", "<a href=\"&#;&#x;&\">"}) {
    EXPECT_NO_FATAL_FAILURE(Check("f.svg", text)) << text;
  }
}

TEST_F(FileTypeTest, LargeHostileMarkupStaysLinear) {
  std::string svg = "<svg>\n";
  for (int i = 0; i < 5000; ++i) svg += "<rect onclick=\"x\"/><meta http-equiv=refresh>url(\n";
  svg += "</svg>";
  const Finding finding = Check("f.svg", svg);
  EXPECT_EQ(finding.outcome, Verdict::kFail);
  EXPECT_EQ(finding.cells_total, 10000u);
  EXPECT_EQ(finding.cells.size(), kMaxCellsPerFinding);
  EXPECT_EQ(finding.cells.back().row, 51u);  // the 100th problem, on line 51
}

TEST_F(FileTypeTest, UnreadContentPassesOnTheExtensionAlone) {
  content_.clear();
  input_.path = "big.csv";
  input_.content = content_;
  input_.size_bytes = 1ull << 40;
  const std::optional<Finding> finding = filter_->Apply({input_, profile_, nullptr, "", history_});
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kPass);
  EXPECT_THAT(finding->message, HasSubstr("not read"));
}

}  // namespace
}  // namespace safeflow::executor::disclosure
