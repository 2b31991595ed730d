import Foundation

// The first page of a notebook of replications: every paper's newest finished run per preset,
// its verdicts, every claim, its headline figure, and drift from the blessed ci baseline. It
// reads only what runs wrote (report.md, metrics.json, config.json, figures) and the papers'
// baselines; it never re-runs anything. The verdicts are read back from each run's report,
// so the page's counts are the report's by construction.

/// Why a run folder is left off the page.
struct SummaryError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One claim's row as its run's report printed it.
public struct SummaryClaim: Sendable, Equatable {
    public var id: String, metric: String, reported: String, measured: String, verdict: Verdict
}

/// One finished run, as read from its folder.
public struct RunSummary: Sendable {
    public var paper: String
    /// The folder, relative to the runs folder the page is written in.
    public var path: String
    public var title: String
    public var header: [String: String]
    public var claims: [SummaryClaim]
    /// The first figure the report lists, relative to the run folder.
    public var headlineFigure: String?
    /// Metrics outside the blessed ci baseline's tolerance (ci runs only); nil when no baseline applies.
    public var drift: [String]?

    public var preset: String { header["preset"] ?? "?" }
    public var commit: String { header["commit"] ?? "?" }
    public var date: String { header["date"] ?? "" }
    public func count(_ v: Verdict) -> Int { claims.filter { $0.verdict == v }.count }
}

/// What `scanRuns` found: the runs on the page and the folders it left out, with why.
public struct RunScan: Sendable {
    public var runs: [RunSummary]
    public var skipped: [(path: String, reason: String)]
}

/// Scans `<runs>/<paper>/<run>/` folders: for each paper its newest finished run of each preset
/// (all of them with `all`). A folder without report.md is unfinished, one whose report or
/// metrics cannot be read is damaged: both are skipped with the reason. Sweep folders (which
/// hold task and merged runs below them) are not runs themselves. Drift from the blessed
/// baseline is judged for runs of the ci preset as it stands: config.json equal to
/// `ciConfigs[paper]` (what `<paper> validate --preset ci` prints); other runs get no drift.
public func scanRuns(_ runsDir: String, papersDir: String, ciConfigs: [String: String] = [:], all: Bool = false) -> RunScan {
    let fm = FileManager.default
    var found: [RunSummary] = [], skipped: [(String, String)] = []
    let papers = ((try? fm.contentsOfDirectory(atPath: runsDir)) ?? []).sorted().filter { isDirectory(runsDir + "/" + $0) }
    for paper in papers {
        let folders = ((try? fm.contentsOfDirectory(atPath: "\(runsDir)/\(paper)")) ?? []).sorted()
            .filter { isDirectory("\(runsDir)/\(paper)/\($0)") && !fm.fileExists(atPath: "\(runsDir)/\(paper)/\($0)/sweep.json") }
        for name in folders {
            let rel = "\(paper)/\(name)", dir = "\(runsDir)/\(rel)"
            guard fm.fileExists(atPath: dir + "/config.json") || fm.fileExists(atPath: dir + "/report.md") else { continue }
            guard fm.fileExists(atPath: dir + "/report.md") else { skipped.append((rel, "unfinished: no report.md")); continue }
            do {
                var run = try readRun(dir, paper: paper, path: rel)
                let baselinePath = "\(papersDir)/\(paper)/expected/ci.json"
                let config = (try? String(contentsOfFile: dir + "/config.json", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
                if run.preset == "ci", fm.fileExists(atPath: baselinePath), let ci = ciConfigs[paper], config == ci {
                    let check = checkBaseline(obtained: try readMetrics(dir + "/metrics.json"), baseline: try Baseline.load(baselinePath))
                    run.drift = check.failures.map(\.metric)
                }
                found.append(run)
            } catch {
                skipped.append((rel, "\(error)"))
            }
        }
    }
    guard !all else { return RunScan(runs: found, skipped: skipped) }
    // The newest per (paper, preset), by the date the report records (ISO 8601 sorts as text).
    var newest: [String: RunSummary] = [:]
    for run in found {
        let key = run.paper + "\u{0}" + run.preset
        if let other = newest[key], (other.date, other.path) >= (run.date, run.path) { continue }
        newest[key] = run
    }
    return RunScan(runs: newest.values.sorted { ($0.paper, $0.preset) < ($1.paper, $1.preset) }, skipped: skipped)
}

func isDirectory(_ path: String) -> Bool {
    var dir: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
}

/// Reads one finished run folder's report.md (title, header fields, claim rows, first figure)
/// and checks that its metrics.json is readable.
func readRun(_ dir: String, paper: String, path: String) throws -> RunSummary {
    let text: String
    do { text = try String(contentsOfFile: dir + "/report.md", encoding: .utf8) } catch {
        throw SummaryError("report.md: cannot read (\(error.localizedDescription))")
    }
    do { _ = try readMetrics(dir + "/metrics.json") } catch {
        throw SummaryError("metrics.json: \(error)")
    }
    var title = paper, header: [String: String] = [:], claims: [SummaryClaim] = [], figure: String?
    for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
        if line.hasPrefix("# Replication report: ") { title = String(line.dropFirst("# Replication report: ".count)) }
        if line.hasPrefix("- **"), let end = line.range(of: ":** ") {
            header[String(line[line.index(line.startIndex, offsetBy: 4)..<end.lowerBound])] = String(line[end.upperBound...])
        }
        if figure == nil, line.hasPrefix("!["), let open = line.range(of: "](", options: .backwards), line.hasSuffix(")") {
            figure = String(line[open.upperBound..<line.index(before: line.endIndex)])
        }
        // A claim row: 8 cells, the last a verdict (the table markdownTable writes, `|` escaped).
        if line.hasPrefix("| ") && line.hasSuffix(" |") {
            let cells = tableCells(line)
            if cells.count == 8, let verdict = Verdict(rawValue: cells[7]) {
                claims.append(SummaryClaim(id: cells[0], metric: cells[2], reported: cells[4], measured: cells[5], verdict: verdict))
            }
        }
    }
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("**Verdicts:**") }) else {
        throw SummaryError("report.md: no **Verdicts:** line (truncated?)")
    }
    // The report's own summary must agree with the rows read: a cut-off report is caught here.
    let total = Int(line.dropFirst("**Verdicts:** ".count).prefix { $0.isNumber }) ?? -1
    guard total == claims.count else {
        throw SummaryError("report.md: its summary counts \(total) claims but \(claims.count) claim rows were read")
    }
    return RunSummary(paper: paper, path: path, title: title, header: header, claims: claims, headlineFigure: figure, drift: nil)
}

/// Verdicts in the order the page shows them: what did not reproduce first.
let summaryOrder: [Verdict] = [.notReproduced, .directionOnly, .reproduced, .notComparable, .notMeasured]

/// The machine, toolchain and commits of the runs, said once each (a mixed set is said so).
func provenanceLines(_ runs: [RunSummary]) -> [(String, String)] {
    func distinct(_ key: String) -> [String] { Array(Set(runs.compactMap { $0.header[key] })).sorted() }
    return [("machine", "machine"), ("BLAS", "BLAS"), ("Swift", "Swift"), ("commit", "commits")].map { key, label in
        let values = distinct(key)
        return (label, values.count <= 1 ? (values.first ?? "—") : "mixed: " + values.joined(separator: "; "))
    }
}

public func summaryMarkdown(_ scan: RunScan) -> String {
    var out = ["# Replications", ""]
    for (k, v) in provenanceLines(scan.runs) { out.append("- **\(k):** \(v)") }
    out += ["", markdownTable(["paper", "preset", "commit", "date", "seeds", "wall time"] + summaryOrder.map(\.rawValue) + ["ci drift", "report"],
        scan.runs.map { r in
            [r.title, r.preset, String(r.commit.prefix(7)) + (r.commit.contains("uncommitted") ? " (dirty)" : ""), r.date, r.header["seeds"] ?? "",
             r.header["wall time"] ?? ""] + summaryOrder.map { "\(r.count($0))" }
                + [r.drift.map { $0.isEmpty ? "none" : "**\($0.count) drifted**: " + $0.joined(separator: ", ") } ?? "—", "[report](\(r.path)/report.md)"]
        })]
    out += ["## Every claim, by verdict", ""]
    var rows: [[String]] = []
    for v in summaryOrder {
        for r in scan.runs { for c in r.claims where c.verdict == v { rows.append([r.paper, r.preset, c.id, c.reported, c.measured, v.rawValue]) } }
    }
    out += [markdownTable(["paper", "preset", "claim", "reported", "measured", "verdict"], rows)]
    if !scan.skipped.isEmpty {
        out += ["## Skipped run folders", ""] + scan.skipped.map { "- `\($0.path)`: \($0.reason)" } + [""]
    }
    return out.joined(separator: "\n")
}

/// The page as one self-contained HTML file: inline CSS, each headline figure embedded as a
/// thumbnail linking to its report (report.html when present, else report.md).
public func summaryHTML(_ scan: RunScan, runsDir: String) -> String {
    let fm = FileManager.default
    func reportLink(_ r: RunSummary) -> String { r.path + (fm.fileExists(atPath: "\(runsDir)/\(r.path)/report.html") ? "/report.html" : "/report.md") }
    var body = ["<header><p class=\"eyebrow\">Replicate</p><h1>Replications</h1><dl class=\"run\">"]
    for (k, v) in provenanceLines(scan.runs) { body.append("<div><dt>\(escapeHTML(k))</dt><dd>\(escapeHTML(v))</dd></div>") }
    body.append("</dl></header>")
    let short: [Verdict: String] = [.notReproduced: "not repr.", .directionOnly: "direction", .reproduced: "repr.",
                                    .notComparable: "not comp.", .notMeasured: "not meas."]
    let heads = ["paper", "preset", "commit", "date", "seeds", "wall time"].map { "<th>\($0)</th>" }
        + summaryOrder.map { "<th class=\"num\" title=\"\(escapeHTML($0.rawValue))\">\(short[$0]!)</th>" } + ["<th>ci drift</th>"]
    var rows: [String] = []
    for r in scan.runs {
        let counts = summaryOrder.map { v -> String in
            let n = r.count(v)
            return "<td class=\"num\">" + (n == 0 ? "<span class=\"muted\">0</span>" : "<span class=\"pill \(v.cssClass)\">\(n)</span>") + "</td>"
        }.joined()
        let drift = r.drift.map { $0.isEmpty ? "<span class=\"pill v-ok\">none</span>"
            : "<span class=\"pill v-bad\">\($0.count) drifted</span> <code>\(escapeHTML($0.joined(separator: ", ")))</code>" } ?? "<span class=\"muted\">—</span>"
        rows.append("<tr><td><a href=\"\(escapeHTML(reportLink(r)))\">\(escapeHTML(r.paper))</a><div class=\"unit\">\(escapeHTML(r.title))</div></td><td>\(escapeHTML(r.preset))</td>"
            + "<td><code>\(escapeHTML(String(r.commit.prefix(7))))</code>\(r.commit.contains("uncommitted") ? " dirty" : "")</td>"
            + "<td>\(escapeHTML(r.date.replacingOccurrences(of: "T", with: " ")))</td><td>\(escapeHTML(r.header["seeds"] ?? ""))</td><td>\(escapeHTML(r.header["wall time"] ?? ""))</td>"
            + counts + "<td>\(drift)</td></tr>")
    }
    body.append("<section><h2>Runs</h2><div class=\"table-wrap\"><table class=\"claims runs\"><thead><tr>"
        + heads.joined() + "</tr></thead><tbody>\n" + rows.joined(separator: "\n") + "\n</tbody></table></div></section>")
    body.append("<section><h2>Headline figures</h2><div class=\"thumbs\">")
    for r in scan.runs {
        guard let f = r.headlineFigure, let data = fm.contents(atPath: "\(runsDir)/\(r.path)/\(f)"), !data.isEmpty else { continue }
        body.append("<figure><a href=\"\(escapeHTML(reportLink(r)))\"><img src=\"data:\(imageMIMEType(f));base64,\(data.base64EncodedString())\" "
            + "alt=\"\(escapeHTML(r.paper)) headline figure\"></a><figcaption>\(escapeHTML(r.paper)) · \(escapeHTML(r.preset))</figcaption></figure>")
    }
    body.append("</div></section>")
    var claimRows: [String] = []
    for v in summaryOrder {
        for r in scan.runs {
            for c in r.claims where c.verdict == v {
                claimRows.append("<tr><td>\(escapeHTML(r.paper))</td><td>\(escapeHTML(r.preset))</td><td><code>\(escapeHTML(c.id))</code></td>"
                    + "<td class=\"num\">\(escapeHTML(c.reported))</td><td class=\"num\">\(escapeHTML(c.measured))</td>"
                    + "<td class=\"verdict \(v.cssClass)\">\(escapeHTML(v.rawValue))</td></tr>")
            }
        }
    }
    body.append("<section><h2>Every claim, by verdict</h2><div class=\"table-wrap\"><table class=\"claims\"><thead><tr>"
        + ["paper", "preset", "claim", "reported", "measured", "verdict"].map { "<th>\($0)</th>" }.joined()
        + "</tr></thead><tbody>\n" + claimRows.joined(separator: "\n") + "\n</tbody></table></div></section>")
    if !scan.skipped.isEmpty {
        body.append("<section><h2>Skipped run folders</h2><ul>"
            + scan.skipped.map { "<li><code>\(escapeHTML($0.path))</code>: \(escapeHTML($0.reason))</li>" }.joined() + "</ul></section>")
    }
    return htmlPage(title: "Replications", css: """

        .thumbs { display: flex; flex-wrap: wrap; gap: 16px; }
        .thumbs figure { width: 270px; margin: 0; }
        .thumbs img { width: 100%; border: 1px solid var(--border); }
        .runs td .unit { max-width: 260px; font-size: 12px; color: var(--muted); }
        """, body: body)
}
