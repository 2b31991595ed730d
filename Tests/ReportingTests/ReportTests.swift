import Foundation
import Testing
@testable import Reporting

/// A valid 1×1 PNG, small enough to inline.
let tinyPNGBase64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

func temporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("reporting-\(UUID())").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func sampleReport() throws -> Report {
    let claims = try decodeClaims(claimsDocument([
        validClaim,
        #"{ id: "variant.better", group: "Ablation <b>", source: "§4 <i>", quote: "a smaller loss while having a smaller model", metric: "d_loss", better: "lower", scale: "ci", reported: null, expect: { kind: "sign" } }"#,
        #"{ id: "t1.loss", group: "Ablation <b>", source: "Table 1", metric: "val_loss", better: "lower", scale: "paper", reported: 3.002, expect: { kind: "report_only" } }"#,
        #"{ id: "absent", group: "Ablation <b>", source: "Table 2", metric: "nowhere", better: "higher", scale: "ci", reported: [0.5, 0.6], expect: { kind: "range" } }"#,
    ], top: #"version: 1, paper: { title: "Tiny <Paper> & Co", authors: "A. Author", year: 2024, arxiv: "2406.10906" },"#))
    return Report(
        claims: claims, measured: ["val_loss": MeasuredValues(1.90, 1.92, 1.94), "d_loss": MeasuredValues(-0.02)],
        runScale: "ci",
        header: [("paper", "nanogpt"), ("commit", "3f2a9c1-dirty"), ("preset", "ci"), ("seeds", "0, 1, 2")],
        figures: [ReportFigure(path: "figures/tiny.png", caption: "A <tiny> figure")],
        deviations: ["Trained 2,000 steps instead of 5,000."],
        sections: [ReportSection(title: "Samples", markdown: "Generated text:\n\n```\nif a < b && c > d:\n```\n\n- one\n- two\n\n| k | v |\n|---|--:|\n| a | 1 |")])
}

@Suite("Report rendering")
struct ReportTests {
    @Test func markdownHasTheTableRowWithTheVerdict() throws {
        let markdown = try sampleReport().markdown()
        #expect(markdown.contains("# Replication report: Tiny <Paper> & Co"))
        #expect(markdown.contains("| claim | source | metric | better | reported | measured (mean ± std, n) | tolerance | verdict |"))
        #expect(markdown.contains("| baby.val_loss | README line 88 | val_loss | ↓ lower | 1.88 | 1.92 ± 0.02 (n=3) | ±0.07 | reproduced |"))
        #expect(markdown.contains("| variant.better | §4 <i> | d_loss | ↓ lower | qualitative | -0.02 (n=1) | < 0 | reproduced |"))
        #expect(markdown.contains("| t1.loss | Table 1 | val_loss | ↓ lower | 3.002 | 1.92 ± 0.02 (n=3) | report only | not comparable at this scale |"))
        #expect(markdown.contains("| absent | Table 2 | nowhere | ↑ higher | [0.5, 0.6] | — | in range | not measured |"))
        #expect(markdown.contains("- `variant.better` (§4 <i>) — quote: “a smaller loss while having a smaller model”"))
        #expect(markdown.contains("**Verdicts:** 4 claims: 2 reproduced, 1 not comparable at this scale, 1 not measured"))
        #expect(markdown.contains("- **commit:** 3f2a9c1-dirty"))
        #expect(markdown.contains("![A <tiny> figure](figures/tiny.png)"))
        #expect(markdown.contains("## Deviations from the paper's setup\n\n- Trained 2,000 steps instead of 5,000."))
        #expect(markdown.contains("## Samples\n\nGenerated text:"))
        #expect(markdown.contains("arXiv:2406.10906](https://arxiv.org/abs/2406.10906)"))
    }

    @Test func markdownCellsEscapePipes() {
        let claim = Claim(id: "p", group: "g", source: "Table 1 | row 2", metric: "m", better: .none, scale: "ci",
                          reported: .value(1), expect: ClaimExpectation(kind: .abs, tol: 1))
        let report = Report(paper: PaperInfo(title: "T", authors: "A"), header: [],
                            groups: [ClaimGroup(name: "g", judgments: [judge(claim, measurement: MeasuredValues(1), runScale: "ci")])])
        #expect(report.markdown().contains("| p | Table 1 \\| row 2 | m | – | 1 | 1 (n=1) | ±1 | reproduced |"))
    }

    @Test func htmlIsSelfContained() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/figures", withIntermediateDirectories: true)
        try Data(base64Encoded: tinyPNGBase64)!.write(to: URL(fileURLWithPath: directory + "/figures/tiny.png"))

        let html = try sampleReport().html(baseDirectory: directory)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<img src=\"data:image/png;base64,\(tinyPNGBase64)\""))
        // Nothing to fetch: no src= other than data: URIs, no stylesheet or script links.
        let sources = html.components(separatedBy: "src=\"").dropFirst()
        #expect(sources.count == 1)
        #expect(sources.allSatisfy { $0.hasPrefix("data:") })
        #expect(!html.contains("<link"))
        #expect(!html.contains("<script"))
        #expect(!html.contains("figures/tiny.png\""))
        #expect(html.contains("<style>"))
    }

    @Test func htmlEscapesTextAndColoursVerdicts() throws {
        let html = try sampleReport().html(baseDirectory: "/nonexistent")
        #expect(html.contains("<h1>Tiny &lt;Paper&gt; &amp; Co</h1>"))
        #expect(html.contains("<h2>Ablation &lt;b&gt;</h2>"))
        #expect(html.contains("<td class=\"source\">§4 &lt;i&gt;</td>"))
        #expect(html.contains("<td class=\"metric\"><code>val_<wbr>loss</code></td>"))
        #expect(!html.contains("<i>"))
        #expect(!html.contains("<Paper>"))
        #expect(html.contains("<td class=\"verdict v-ok\">reproduced</td>"))
        #expect(html.contains("<td class=\"verdict v-na\">not comparable at this scale</td>"))
        #expect(html.contains("<td class=\"verdict v-missing\">not measured</td>"))
        // The markdown section: code escaped, list and table rendered.
        #expect(html.contains("<pre><code>if a &lt; b &amp;&amp; c &gt; d:</code></pre>"))
        #expect(html.contains("<ul>\n<li>one</li>\n<li>two</li>\n</ul>"))
        #expect(html.contains("<th style=\"text-align:right\">v</th>"))
        #expect(html.contains("<td style=\"text-align:right\">1</td>"))
        // A missing figure is shown, not fatal.
        #expect(html.contains("figure not found: figures/tiny.png"))
    }

    @Test func writesBothFilesAtomically() throws {
        let directory = try temporaryDirectory() + "/run"
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        let report = try sampleReport()
        let paths = try report.write(to: directory)
        #expect(paths.markdown == directory + "/report.md")
        #expect(try String(contentsOfFile: paths.markdown, encoding: .utf8) == report.markdown())
        #expect(try String(contentsOfFile: paths.html, encoding: .utf8).contains("Tiny &lt;Paper&gt;"))
        // Overwriting replaces the file and leaves no temporaries behind.
        try report.write(to: directory)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["report.html", "report.md"])
    }

    @Test func summaryLine() throws {
        #expect(try sampleReport().summaryLine == "4 claims: 2 reproduced, 1 not comparable at this scale, 1 not measured")
        let empty = Report(paper: PaperInfo(title: "T", authors: "A"), header: [], groups: [])
        #expect(empty.summaryLine == "0 claims")
    }

    @Test func numberFormatting() {
        #expect(formatNumber(1.912345) == "1.912")
        #expect(formatNumber(3) == "3")
        #expect(formatNumber(2024) == "2024")
        #expect(formatNumber(124_000_000) == "124,000,000")
        #expect(formatNumber(-12_345) == "-12,345")
        #expect(formatNumber(123_456.7) == "123,457")
        #expect(formatNumber(0.07) == "0.07")
        #expect(formatNumber(0.012345) == "0.01235")
        #expect(formatNumber(0.00001234) == "1.234e-5")
        #expect(formatNumber(-0.0002) == "-2e-4")
        #expect(formatNumber(9.99996) == "10")
        #expect(formatNumber(.nan) == "NaN")
        #expect(formatNumber(-.infinity) == "-inf")
        #expect(formatVerbatim(1.4697) == "1.4697")
        #expect(formatVerbatim(8) == "8")
        #expect(formatVerbatim(10_745_088) == "10,745,088")
        #expect(formatVerbatim(-0.0) == "0")
        #expect(formatVerbatim(0.07) == "0.07")
    }

    @Test func markdownToHTMLBlocks() {
        let html = markdownToHTML("""
            # Title

            Some *italic*, **bold**, `a_b <c>` and [a link](https://example.com/?a=1&b=2).
            val_loss_min stays as is.

            1. first
            2. second
            continued

            > quoted

            ---
            ```swift
            let x = 1 // <tag>
            ```
            """)
        #expect(html.contains("<h1>Title</h1>"))
        #expect(html.contains("<p>Some <em>italic</em>, <strong>bold</strong>, <code>a_b &lt;c&gt;</code> and <a href=\"https://example.com/?a=1&amp;b=2\">a link</a>.\nval_loss_min stays as is.</p>"))
        #expect(html.contains("<ol>\n<li>first</li>\n<li>second continued</li>\n</ol>"))
        #expect(html.contains("<blockquote>\n<p>quoted</p>\n</blockquote>"))
        #expect(html.contains("<hr>"))
        #expect(html.contains("<pre><code class=\"language-swift\">let x = 1 // &lt;tag&gt;</code></pre>"))
    }

    @Test func rawHTMLInSectionsIsShownNotExecuted() {
        let html = markdownToHTML("<script>alert(1)</script> and ![img](/etc/x.png)")
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!html.contains("<script"))
        #expect(!html.contains("src="))
    }
}
