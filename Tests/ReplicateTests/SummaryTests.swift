import Foundation
import Testing
@testable import Replicate
import Reporting

// `summary` over real run folders: the page lists the newest finished run per preset with the
// report's own verdict counts, and a damaged or unfinished folder is skipped with its reason.

@Suite(.serialized, .enabled(if: packageExecutable("_template") != nil && packageExecutable("summary") != nil,
                             "_template or summary not built"))
struct SummaryTests {
    @Test func pageListsNewestRunsAndSkipsDamagedOnes() throws {
        let runs = try temporaryDirectory("summary")
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let exe = packageExecutable("_template")!
        var dirs: [String] = []
        for seeds in ["1", "2", "3"] {
            let r = try runPrinting(["run", "--preset", "ci", "--seeds", seeds, "--threads", "1", "--runs", runs, "max_iters=20"], executable: exe)
            try #require(r.status == 0, "\(r.log)")
            dirs.append(r.out.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        // Damage one (metrics.json cut in half) and leave one unfinished (its report removed).
        let metrics = dirs[2] + "/metrics.json"
        let text = try Data(contentsOf: URL(fileURLWithPath: metrics))
        try text.prefix(text.count / 2).write(to: URL(fileURLWithPath: metrics))
        try FileManager.default.removeItem(atPath: dirs[1] + "/report.md")

        let s = try runPrinting(["--runs", runs], executable: packageExecutable("summary")!)
        #expect(s.status == 0, "\(s.log)")
        let page = try String(contentsOfFile: runs + "/index.md", encoding: .utf8)
        let html = try String(contentsOfFile: runs + "/index.html", encoding: .utf8)
        let name = { (d: String) in "_template/" + URL(fileURLWithPath: d).lastPathComponent }
        #expect(page.contains("[report](\(name(dirs[0]))/report.md)"), "the good run is listed:\n\(page)")
        #expect(page.contains("`\(name(dirs[2]))`: metrics.json:"), "the damaged run is skipped with the reason:\n\(page)")
        #expect(page.contains("`\(name(dirs[1]))`: unfinished: no report.md"), "\(page)")
        #expect(html.contains("href=\"\(name(dirs[0]))/report.html\"") && html.contains("data:image/png;base64,"), "links and the thumbnail")
        // The counts are the report's own.
        let report = try String(contentsOfFile: dirs[0] + "/report.md", encoding: .utf8)
        let line = try #require(report.split(separator: "\n").first { $0.hasPrefix("**Verdicts:**") })
        let scan = scanRuns(runs, papersDir: packageRoot + "/papers")
        let run = try #require(scan.runs.first)
        #expect(scan.runs.count == 1 && line.contains("\(run.claims.count) claim"), "\(line)")
        for v in Verdict.allCases where run.count(v) > 0 { #expect(line.contains("\(run.count(v)) \(v.rawValue)"), "\(v): \(line)") }
        #expect(run.drift == nil, "a 20-iteration run is not the ci preset's config: no drift is judged")
        // The ci preset as it stands is judged against its baseline; one metric moved flags it.
        let ciConfig = try String(contentsOfFile: dirs[0] + "/config.json", encoding: .utf8)
        #expect(scanRuns(runs, papersDir: packageRoot + "/papers", ciConfigs: ["_template": ciConfig]).runs.first?.drift?.isEmpty == false,
                "20 iterations are not the blessed 200: drift flagged")
    }
}
