import Foundation

/// A run's report: every claim beside what the run measured, plus figures, deviations from the
/// paper's setup and free sections. Renders to `report.md` and a self-contained `report.html`.
///
///     let claims = try ClaimsFile.load("papers/nanogpt/claims.json5")
///     let report = Report(claims: claims, measured: MeasuredValues.collect(perSeedMetrics),
///                         runScale: "baby-cpu",
///                         header: [("paper", "nanogpt"), ("commit", "3f2a9c1"), ("preset", "baby")],
///                         figures: [Figure(path: "figures/loss.png", caption: "Validation loss")],
///                         deviations: ["Trained for 2,000 steps instead of 5,000."])
///     try report.write(to: runDirectory)
public struct Report: Sendable {
    public var paper: PaperInfo
    /// Run header in display order: paper, commit, preset, seeds, threads, machine, date, wall time, ...
    public var header: [(key: String, value: String)]
    public var groups: [ClaimGroup]
    public var figures: [ReportFigure]
    /// "Deviations from the paper's setup", one plain-language sentence each.
    public var deviations: [String]
    public var sections: [ReportSection]

    public init(paper: PaperInfo, header: [(key: String, value: String)], groups: [ClaimGroup],
                figures: [ReportFigure] = [], deviations: [String] = [], sections: [ReportSection] = []) {
        self.paper = paper
        self.header = header
        self.groups = groups
        self.figures = figures
        self.deviations = deviations
        self.sections = sections
    }

    /// Judges every claim of `claims` against `measured` (metric name → values over seeds).
    public init(claims: ClaimsFile, measured: [String: MeasuredValues], runScale: String,
                header: [(key: String, value: String)], figures: [ReportFigure] = [],
                deviations: [String] = [], sections: [ReportSection] = []) {
        let groups = claims.groups.map { group in
            ClaimGroup(name: group.name, judgments: group.claims.map {
                judge($0, measurement: measured[$0.metric], runScale: runScale)
            })
        }
        self.init(paper: claims.paper, header: header, groups: groups, figures: figures,
                  deviations: deviations, sections: sections)
    }

    public var judgments: [Judgment] { groups.flatMap(\.judgments) }

    /// How many claims got each verdict, in `Verdict.allCases` order, zeros omitted.
    public var verdictCounts: [(verdict: Verdict, count: Int)] {
        let all = judgments
        return Verdict.allCases.compactMap { verdict in
            let count = all.filter { $0.verdict == verdict }.count
            return count > 0 ? (verdict, count) : nil
        }
    }

    /// "9 claims: 5 reproduced, 1 direction only, 1 not reproduced, 2 not comparable at this scale"
    public var summaryLine: String {
        let total = judgments.count
        let counts = verdictCounts.map { "\($0.count) \($0.verdict.rawValue)" }
        return "\(total) claim\(total == 1 ? "" : "s")" + (counts.isEmpty ? "" : ": " + counts.joined(separator: ", "))
    }

    /// Writes `report.md` and `report.html` into `directory` (created if needed), each atomically.
    /// Figure paths are resolved relative to `directory`, where the report lives.
    @discardableResult
    public func write(to directory: String) throws -> (markdown: String, html: String) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let markdownPath = (directory as NSString).appendingPathComponent("report.md")
        let htmlPath = (directory as NSString).appendingPathComponent("report.html")
        try writeAtomically(Data(markdown().utf8), to: markdownPath)
        try writeAtomically(Data(html(baseDirectory: directory).utf8), to: htmlPath)
        return (markdownPath, htmlPath)
    }
}

/// One report table.
public struct ClaimGroup: Sendable, Equatable {
    public var name: String
    public var judgments: [Judgment]

    public init(name: String, judgments: [Judgment]) {
        self.name = name
        self.judgments = judgments
    }
}

/// An image file, with `path` relative to the report's directory.
public struct ReportFigure: Sendable, Equatable {
    public var path: String
    public var caption: String

    public init(path: String, caption: String) {
        self.path = path
        self.caption = caption
    }
}

/// A free section of markdown (generated samples, extra tables), rendered after the claims.
public struct ReportSection: Sendable, Equatable {
    public var title: String
    public var markdown: String

    public init(title: String, markdown: String) {
        self.title = title
        self.markdown = markdown
    }
}

// MARK: - Cell texts shared by the markdown and HTML renderers

extension Claim {
    /// "↓ lower", "↑ higher", "–".
    var betterText: String {
        switch better {
        case .lower: return "↓ lower"
        case .higher: return "↑ higher"
        case .none: return "–"
        }
    }

    /// The paper's number verbatim, with our derived number beside it when there is one.
    var reportedText: String {
        let reportedPart: String?
        switch reported {
        case .value(let value)?: reportedPart = formatVerbatim(value)
        case .range(let lo, let hi)?: reportedPart = "[\(formatVerbatim(lo)), \(formatVerbatim(hi))]"
        case nil: reportedPart = nil
        }
        let derivedPart = derived.map { "\(formatVerbatim($0)) (derived)" }
        switch (reportedPart, derivedPart) {
        case let (r?, d?): return "\(r); \(d)"
        case let (r?, nil): return r
        case let (nil, d?): return d
        case (nil, nil): return "qualitative"
        }
    }

    var metricText: String { unit.map { "\(metric) (\($0))" } ?? metric }

    /// The tolerance column: what the kind accepts, relative to the compared number.
    var toleranceText: String {
        let tol = expect.tol ?? 0
        var text: String
        switch expect.kind {
        case .abs: text = "±\(formatVerbatim(tol))"
        case .rel: text = "±\(formatVerbatim(tol * 100))%"
        case .noWorse:
            let sign = better == .lower ? "≤" : "≥"
            let op = better == .lower ? "+" : "−"
            text = tol == 0 ? "\(sign) ref" : "\(sign) ref \(op) \(formatVerbatim(tol))"
        case .sign: text = "\(better == .lower ? "<" : ">") \(formatVerbatim(expect.threshold ?? 0))"
        case .range: text = tol == 0 ? "in range" : "in range ±\(formatVerbatim(tol))"
        case .reportOnly: text = "report only"
        }
        if let neutral = expect.neutral { text += " (neutral \(formatVerbatim(neutral)))" }
        if expect.sameScaleOnly { text += ", same scale only" }
        return text
    }
}

extension MeasuredValues {
    /// "1.912 ± 0.012 (n=3)", "1.912 (n=1)".
    var text: String {
        guard n > 0 else { return "—" }
        let spread = std.map { " ± \(formatNumber($0, significantDigits: 2))" } ?? ""
        return "\(formatNumber(mean))\(spread) (n=\(n))"
    }
}

extension Judgment {
    var measuredText: String { measurement?.text ?? "—" }

    /// Everything worth saying under the table about this claim, in reading order.
    var remarks: [(label: String, text: String)] {
        var remarks: [(String, String)] = []
        if let quote = claim.quote { remarks.append(("quote", "“\(quote)”")) }
        if let derivation = claim.derivation { remarks.append(("derived", derivation)) }
        if let note = claim.note { remarks.append(("note", note)) }
        if let note, verdict != .notMeasured { remarks.append(("verdict", note)) }
        return remarks
    }
}

// MARK: - Markdown

extension Report {
    /// The report as GitHub-flavoured markdown.
    public func markdown() -> String {
        var out: [String] = []
        out.append("# Replication report: \(paper.title)")
        out.append("")
        out.append(paperLine(link: { text, url in "[\(text)](\(url))" }))
        out.append("")
        for field in header {
            out.append("- **\(field.key):** \(field.value)")
        }
        if !header.isEmpty { out.append("") }
        out.append("**Verdicts:** \(summaryLine)")
        out.append("")

        for group in groups {
            out.append("## \(group.name)")
            out.append("")
            out.append(markdownTable(
                ["claim", "source", "metric", "better", "reported", "measured (mean ± std, n)", "tolerance", "verdict"],
                group.judgments.map { judgment in
                    let claim = judgment.claim
                    return [claim.id, claim.source, claim.metricText, claim.betterText, claim.reportedText,
                            judgment.measuredText, claim.toleranceText, judgment.verdict.rawValue]
                }, trailingNewline: false))
            let remarks = group.judgments.filter { !$0.remarks.isEmpty }
            if !remarks.isEmpty {
                out.append("")
                for judgment in remarks {
                    let text = judgment.remarks.map { "\($0.label): \($0.text)" }.joined(separator: "; ")
                    out.append("- `\(judgment.claim.id)` (\(judgment.claim.source)) — \(text)")
                }
            }
            out.append("")
        }

        if !figures.isEmpty {
            out.append("## Figures")
            out.append("")
            for figure in figures {
                out.append("![\(figure.caption)](\(figure.path))")
                out.append("")
                out.append("*\(figure.caption)*")
                out.append("")
            }
        }

        out.append("## Deviations from the paper's setup")
        out.append("")
        if deviations.isEmpty {
            out.append("None recorded.")
        } else {
            out.append(contentsOf: deviations.map { "- \($0)" })
        }
        out.append("")

        for section in sections {
            out.append("## \(section.title)")
            out.append("")
            out.append(section.markdown.trimmingCharacters(in: .newlines))
            out.append("")
        }
        return out.joined(separator: "\n")
    }

    /// "Authors (2024) · arXiv 2406.10906 · url", with links rendered by `link`.
    func paperLine(link: (_ text: String, _ url: String) -> String, escape: (String) -> String = { $0 }) -> String {
        var parts = [escape(paper.authors) + (paper.year.map { " (\($0))" } ?? "")]
        if let venue = paper.venue { parts.append(escape(venue)) }
        if let arxiv = paper.arxiv { parts.append(link("arXiv:" + escape(arxiv), "https://arxiv.org/abs/\(arxiv)")) }
        if let url = paper.url { parts.append(link(escape(url), url)) }
        if let code = paper.code { parts.append("code: " + escape(code)) }
        return parts.joined(separator: " · ")
    }
}

