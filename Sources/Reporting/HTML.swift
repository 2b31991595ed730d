import Foundation

extension Report {
    /// The report as one self-contained HTML page: inline CSS, figures embedded as base64
    /// `data:` URIs, no scripts and no external references, so it survives being mailed or
    /// attached to an issue. `baseDirectory` is where figure paths are resolved from (the
    /// report's own directory). A figure that cannot be read becomes a visible placeholder
    /// rather than an error: a report at the end of an hour-long run should still be written.
    public func html(baseDirectory: String) -> String {
        var body: [String] = []
        body.append("<header>")
        body.append("<p class=\"eyebrow\">Replication report</p>")
        body.append("<h1>\(escapeHTML(paper.title))</h1>")
        body.append("<p class=\"paper\">\(paperLine(link: { "<a href=\"\(escapeHTML($1))\">\($0)</a>" }, escape: escapeHTML))</p>")
        if !header.isEmpty {
            body.append("<dl class=\"run\">")
            for field in header {
                body.append("<div><dt>\(escapeHTML(field.key))</dt><dd>\(escapeHTML(field.value))</dd></div>")
            }
            body.append("</dl>")
        }
        body.append(summaryHTML)
        body.append("</header>")

        for group in groups {
            body.append("<section>")
            body.append("<h2>\(escapeHTML(group.name))</h2>")
            body.append(tableHTML(group))
            body.append("</section>")
        }

        if !figures.isEmpty {
            body.append("<section>")
            body.append("<h2>Figures</h2>")
            for (number, figure) in figures.enumerated() {
                body.append(figureHTML(figure, number: number + 1, baseDirectory: baseDirectory))
            }
            body.append("</section>")
        }

        body.append("<section>")
        body.append("<h2>Deviations from the paper’s setup</h2>")
        if deviations.isEmpty {
            body.append("<p class=\"muted\">None recorded.</p>")
        } else {
            body.append("<ul class=\"deviations\">" + deviations.map { "<li>\(inlineHTML($0))</li>" }.joined() + "</ul>")
        }
        body.append("</section>")

        for section in sections {
            body.append("<section class=\"extra\">")
            body.append("<h2>\(escapeHTML(section.title))</h2>")
            body.append(markdownToHTML(section.markdown))
            body.append("</section>")
        }
        body.append(legendHTML)
        return htmlPage(title: "Replication report: \(paper.title)", body: body)
    }

    private var summaryHTML: String {
        let total = judgments.count
        var parts = ["<span class=\"total\">\(total) claim\(total == 1 ? "" : "s")</span>"]
        for (verdict, count) in verdictCounts {
            parts.append("<span class=\"pill \(verdict.cssClass)\">\(count) \(escapeHTML(verdict.rawValue))</span>")
        }
        return "<div class=\"summary\">" + parts.joined(separator: " ") + "</div>"
    }

    private func tableHTML(_ group: ClaimGroup) -> String {
        let headings = ["claim", "source", "metric", "better", "reported", "measured (mean ± std, n)", "tolerance", "verdict"]
        var rows: [String] = []
        for judgment in group.judgments {
            let claim = judgment.claim
            var claimCell = "<code>\(breakable(claim.id))</code>"
            for remark in judgment.remarks {
                claimCell += "<div class=\"remark \(remark.label)\"><span>\(escapeHTML(remark.label))</span> \(escapeHTML(remark.text))</div>"
            }
            let unit = claim.unit.map { "<div class=\"unit\">\(escapeHTML($0))</div>" } ?? ""
            let cells = [
                "<td class=\"claim\">\(claimCell)</td>",
                "<td class=\"source\">\(breakable(claim.source))</td>",
                "<td class=\"metric\"><code>\(breakable(claim.metric))</code>\(unit)</td>",
                "<td class=\"better\">\(escapeHTML(claim.betterText))</td>",
                "<td class=\"num\">\(escapeHTML(claim.reportedText))</td>",
                "<td class=\"num\">\(measuredHTML(judgment.measurement))</td>",
                "<td class=\"tol\">\(escapeHTML(claim.toleranceText))</td>",
                "<td class=\"verdict \(judgment.verdict.cssClass)\">\(escapeHTML(judgment.verdict.rawValue))</td>",
            ]
            rows.append("<tr>" + cells.joined() + "</tr>")
        }
        return """
            <div class="table-wrap"><table class="claims">
            <thead><tr>\(headings.enumerated().map { "<th\([4, 5].contains($0.offset) ? " class=\"num\"" : "")>\(escapeHTML($0.element))</th>" }.joined())</tr></thead>
            <tbody>
            \(rows.joined(separator: "\n"))
            </tbody>
            </table></div>
            """
    }

    private func measuredHTML(_ measurement: MeasuredValues?) -> String {
        guard let measurement, measurement.n > 0 else { return "<span class=\"muted\">—</span>" }
        let spread = measurement.std.map { "<span class=\"std\"> ± \(formatNumber($0, significantDigits: 2))</span>" } ?? ""
        return "\(formatNumber(measurement.mean))\(spread) <span class=\"n\">n=\(measurement.n)</span>"
    }

    private func figureHTML(_ figure: ReportFigure, number: Int, baseDirectory: String) -> String {
        let caption = "<figcaption><b>Figure \(number).</b> \(escapeHTML(figure.caption))</figcaption>"
        let path = figure.path.hasPrefix("/") ? figure.path : (baseDirectory as NSString).appendingPathComponent(figure.path)
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else {
            return "<figure><div class=\"missing\">figure not found: \(escapeHTML(figure.path))</div>\(caption)</figure>"
        }
        let source = "data:\(imageMIMEType(figure.path));base64,\(data.base64EncodedString())"
        return "<figure><img src=\"\(source)\" alt=\"\(escapeHTML(figure.caption))\">\(caption)</figure>"
    }

    private var legendHTML: String {
        let meanings: [(Verdict, String)] = [
            (.reproduced, "the mean over seeds lies within the claim’s tolerance"),
            (.directionOnly, "outside tolerance, but on the same side of the neutral value as the paper"),
            (.notReproduced, "outside tolerance, or the run produced NaN/inf"),
            (.notComparable, "shown for reference only, or measured at a different scale"),
            (.notMeasured, "this run has no value for the metric"),
        ]
        let items = meanings.map { "<li><span class=\"pill \($0.0.cssClass)\">\(escapeHTML($0.0.rawValue))</span> \(escapeHTML($0.1))</li>" }
        return "<footer><h2>Verdicts</h2><ul class=\"legend\">\(items.joined())</ul>"
            + "<p class=\"muted\">Verdicts are computed from the paper’s claims file; reported numbers are verbatim from the paper, derived numbers are our arithmetic from them.</p></footer>"
    }
}

extension Verdict {
    var cssClass: String {
        switch self {
        case .reproduced: return "v-ok"
        case .directionOnly: return "v-direction"
        case .notReproduced: return "v-bad"
        case .notComparable: return "v-na"
        case .notMeasured: return "v-missing"
        }
    }
}

/// Escaped text with line-break opportunities after `_`, `.` and `/`, so that a narrow column
/// wraps `val_minus_train` or `config/train_shakespeare_char.py` between words, not mid-word
/// and not by pushing the verdict column out of view.
private func breakable(_ text: String) -> String {
    var out = escapeHTML(text)
    for separator in ["_", ".", "/"] { out = out.replacingOccurrences(of: separator, with: separator + "<wbr>") }
    return out
}

func imageMIMEType(_ path: String) -> String {
    switch (path as NSString).pathExtension.lowercased() {
    case "jpg", "jpeg": return "image/jpeg"
    case "gif": return "image/gif"
    case "svg": return "image/svg+xml"
    case "webp": return "image/webp"
    default: return "image/png"
    }
}

/// A self-contained page: the report's CSS (plus `css`) inline, `body` inside <main>.
func htmlPage(title: String, css: String = "", body: [String]) -> String {
    """
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>\(escapeHTML(title))</title>
    <style>
    \(reportCSS)\(css)
    </style>
    </head>
    <body>
    <main>
    \(body.joined(separator: "\n"))
    </main>
    </body>
    </html>

    """
}

/// Print-friendly, system fonts only (nothing to fetch), colours that survive greyscale via weight.
let reportCSS = """
    :root {
      --text: #1f2328; --muted: #656d76; --border: #d0d7de; --subtle: #f6f8fa; --accent: #0969da;
      --ok-bg: #dafbe1; --ok-fg: #116329; --dir-bg: #fff8c5; --dir-fg: #7d4e00;
      --bad-bg: #ffebe9; --bad-fg: #a40e26; --na-bg: #eaeef2; --na-fg: #424a53;
      --missing-bg: #f6f8fa; --missing-fg: #6e7781;
    }
    * { box-sizing: border-box; }
    body { margin: 0; background: #fff; color: var(--text);
      font: 15px/1.55 -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; }
    main { max-width: 1180px; margin: 0 auto; padding: 32px 28px 56px; }
    a { color: var(--accent); text-decoration: none; }
    a:hover { text-decoration: underline; }
    code, pre { font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace; font-size: 0.88em; }
    header { border-bottom: 1px solid var(--border); padding-bottom: 20px; margin-bottom: 8px; }
    .eyebrow { margin: 0; color: var(--muted); font-size: 12px; letter-spacing: 0.08em; text-transform: uppercase; font-weight: 600; }
    h1 { font-size: 28px; line-height: 1.25; margin: 6px 0 6px; font-weight: 650; }
    h2 { font-size: 20px; margin: 36px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--border); font-weight: 600; }
    h3 { font-size: 16px; margin: 24px 0 8px; }
    h4, h5, h6 { font-size: 15px; margin: 20px 0 6px; }
    .paper { margin: 0 0 16px; color: var(--muted); }
    dl.run { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 8px 24px; margin: 0 0 18px;
      padding: 14px 16px; background: var(--subtle); border: 1px solid var(--border); border-radius: 8px; }
    dl.run div { min-width: 0; }
    dl.run dt { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: 0.06em; font-weight: 600; }
    dl.run dd { margin: 2px 0 0; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
      font-size: 13px; overflow-wrap: anywhere; }
    .summary { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
    .summary .total { font-weight: 600; margin-right: 4px; }
    .pill { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 13px; font-weight: 600; white-space: nowrap; }
    .v-ok { background: var(--ok-bg); color: var(--ok-fg); }
    .v-direction { background: var(--dir-bg); color: var(--dir-fg); }
    .v-bad { background: var(--bad-bg); color: var(--bad-fg); }
    .v-na { background: var(--na-bg); color: var(--na-fg); }
    .v-missing { background: var(--missing-bg); color: var(--missing-fg); font-style: italic; }
    .table-wrap { overflow-x: auto; border: 1px solid var(--border); border-radius: 8px; }
    table { border-collapse: collapse; width: 100%; font-size: 14px; }
    th, td { padding: 8px 10px; text-align: left; vertical-align: top; border-bottom: 1px solid var(--border); }
    th { background: var(--subtle); font-size: 12px; font-weight: 600; color: var(--muted); text-transform: uppercase;
      letter-spacing: 0.04em; }
    tbody tr:last-child td { border-bottom: none; }
    tbody tr:hover td:not(.verdict) { background: #fafbfc; }
    table.claims td.claim { min-width: 200px; max-width: 320px; }
    table.claims td.claim code { font-weight: 600; }
    table.claims td.source { color: var(--muted); min-width: 110px; }
    table.claims td.metric { min-width: 130px; }
    table.claims td.better { white-space: nowrap; color: var(--muted); }
    table.claims td.tol { color: var(--muted); min-width: 90px; }
    th.num { text-align: right; }
    td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
    td.num .std { color: var(--muted); }
    td.num .n, .unit { color: var(--muted); font-size: 12px; }
    td.verdict { font-weight: 600; min-width: 8.5em; }
    .remark { margin-top: 4px; font-size: 13px; color: var(--muted); line-height: 1.4; }
    .remark span { font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em; font-weight: 600; }
    .remark.quote { font-style: italic; }
    .remark.quote span { font-style: normal; }
    figure { margin: 20px 0 28px; text-align: center; }
    figure img { max-width: 100%; height: auto; border: 1px solid var(--border); border-radius: 6px; background: #fff; }
    figcaption { margin-top: 8px; color: var(--muted); font-size: 14px; }
    .missing { padding: 40px; border: 2px dashed var(--border); border-radius: 6px; color: var(--bad-fg); }
    ul.deviations li { margin: 4px 0; }
    .muted { color: var(--muted); }
    .extra pre { background: var(--subtle); border: 1px solid var(--border); border-radius: 6px; padding: 12px 14px;
      overflow-x: auto; line-height: 1.45; white-space: pre; font-size: 13.5px; }
    :is(p, li, td) > code { background: var(--subtle); padding: 1px 5px; border-radius: 4px; }
    table.claims td > code { background: none; padding: 0; }
    .extra table { width: auto; border: 1px solid var(--border); margin: 8px 0 16px; }
    .extra blockquote { margin: 0 0 12px; padding: 0 14px; color: var(--muted); border-left: 4px solid var(--border); }
    footer { margin-top: 48px; font-size: 13px; }
    footer h2 { font-size: 15px; }
    ul.legend { list-style: none; padding: 0; margin: 0 0 10px; }
    ul.legend li { margin: 6px 0; }
    ul.legend .pill { min-width: 200px; text-align: center; margin-right: 8px; }
    @media print { main { max-width: none; padding: 0; } .table-wrap { overflow: visible; } tr { break-inside: avoid; } }
    """
