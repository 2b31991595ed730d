import Foundation

/// Minimal markdown → HTML for a report's free sections (generated samples, extra tables).
///
/// Blocks: ATX headings, paragraphs, fenced code blocks, bullet and numbered lists, block quotes,
/// horizontal rules, pipe tables (with `:---:` alignment). Inline: `code`, **bold**, *italic*
/// and [links](url). Everything else is shown as escaped text, never passed through as HTML:
/// sections may quote model output, which can contain anything. Images are not supported,
/// because the HTML report must not point at files; add figures through `Report.figures`.
func markdownToHTML(_ text: String) -> String {
    var lines = text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n")
    lines.append("")  // a trailing blank line closes the last block without special cases
    var out: [String] = []
    var i = 0

    func isBlank(_ line: String) -> Bool { line.trimmingCharacters(in: .whitespaces).isEmpty }
    func startsBlock(_ index: Int) -> Bool {
        let line = lines[index]
        return fence(line) != nil || heading(line) != nil || listItem(line) != nil || isRule(line)
            || line.trimmingCharacters(in: .whitespaces).hasPrefix(">")
            || (index + 1 < lines.count && line.contains("|") && isTableSeparator(lines[index + 1]))
    }

    while i < lines.count {
        let line = lines[i]
        if isBlank(line) {
            i += 1
        } else if let marker = fence(line) {
            let language = line.trimmingCharacters(in: .whitespaces).dropFirst(marker.count)
                .trimmingCharacters(in: .whitespaces)
            var code: [String] = []
            i += 1
            while i < lines.count, !lines[i].trimmingCharacters(in: .whitespaces).hasPrefix(marker) {
                code.append(lines[i])
                i += 1
            }
            i += 1  // the closing fence (or past the end: an unclosed fence runs to the end)
            if code.last == "" && i >= lines.count { code.removeLast() }
            let attribute = language.isEmpty ? "" : " class=\"language-\(escapeHTML(language))\""
            out.append("<pre><code\(attribute)>\(escapeHTML(code.joined(separator: "\n")))</code></pre>")
        } else if let (level, title) = heading(line) {
            out.append("<h\(level)>\(inlineHTML(title))</h\(level)>")
            i += 1
        } else if isRule(line) {
            out.append("<hr>")
            i += 1
        } else if line.contains("|") && i + 1 < lines.count && isTableSeparator(lines[i + 1]) {
            let header = tableCells(line)
            let alignments = tableCells(lines[i + 1]).map(alignment)
            func cellAttribute(_ column: Int) -> String {
                column < alignments.count && !alignments[column].isEmpty ? " style=\"text-align:\(alignments[column])\"" : ""
            }
            var html = "<table>\n<thead><tr>"
            html += header.enumerated().map { "<th\(cellAttribute($0.offset))>\(inlineHTML($0.element))</th>" }.joined()
            html += "</tr></thead>\n<tbody>\n"
            i += 2
            while i < lines.count, !isBlank(lines[i]), lines[i].contains("|") {
                let cells = tableCells(lines[i])
                // Rows are padded or cut to the header's width, as GitHub does.
                let row = (0..<header.count).map { $0 < cells.count ? cells[$0] : "" }
                html += "<tr>" + row.enumerated().map { "<td\(cellAttribute($0.offset))>\(inlineHTML($0.element))</td>" }.joined() + "</tr>\n"
                i += 1
            }
            out.append(html + "</tbody>\n</table>")
        } else if let first = listItem(line) {
            var items = [first.text]
            i += 1
            while i < lines.count, !isBlank(lines[i]) {
                if let next = listItem(lines[i]), next.ordered == first.ordered {
                    items.append(next.text)
                } else if startsBlock(i) {
                    break
                } else {
                    items[items.count - 1] += " " + lines[i].trimmingCharacters(in: .whitespaces)
                }
                i += 1
            }
            let tag = first.ordered ? "ol" : "ul"
            out.append("<\(tag)>\n" + items.map { "<li>\(inlineHTML($0))</li>\n" }.joined() + "</\(tag)>")
        } else if line.trimmingCharacters(in: .whitespaces).hasPrefix(">") {
            var quoted: [String] = []
            while i < lines.count, lines[i].trimmingCharacters(in: .whitespaces).hasPrefix(">") {
                var content = lines[i].trimmingCharacters(in: .whitespaces).dropFirst()
                if content.hasPrefix(" ") { content = content.dropFirst() }
                quoted.append(String(content))
                i += 1
            }
            out.append("<blockquote>\n\(markdownToHTML(quoted.joined(separator: "\n")))\n</blockquote>")
        } else {
            var paragraph: [String] = []
            while i < lines.count, !isBlank(lines[i]), paragraph.isEmpty || !startsBlock(i) {
                paragraph.append(lines[i].trimmingCharacters(in: .whitespaces))
                i += 1
            }
            out.append("<p>\(inlineHTML(paragraph.joined(separator: "\n")))</p>")
        }
    }
    return out.joined(separator: "\n")
}

// MARK: - Block recognisers

/// "```" or "~~~" when `line` opens a fenced code block.
private func fence(_ line: String) -> String? {
    let trimmed = line.trimmingCharacters(in: .whitespaces)
    for marker in ["```", "~~~"] where trimmed.hasPrefix(marker) { return marker }
    return nil
}

private func heading(_ line: String) -> (Int, String)? {
    let trimmed = line.trimmingCharacters(in: .whitespaces)
    let level = trimmed.prefix(while: { $0 == "#" }).count
    guard (1...6).contains(level) else { return nil }
    let rest = trimmed.dropFirst(level)
    guard rest.isEmpty || rest.first == " " else { return nil }
    // A closing run of #'s is decoration: "## Samples ##".
    var title = rest.trimmingCharacters(in: .whitespaces)
    while title.hasSuffix("#") { title.removeLast() }
    return (level, title.trimmingCharacters(in: .whitespaces))
}

private func isRule(_ line: String) -> Bool {
    let compact = line.filter { !$0.isWhitespace }
    return compact.count >= 3 && (Set(compact) == ["-"] || Set(compact) == ["*"] || Set(compact) == ["_"])
}

private func listItem(_ line: String) -> (ordered: Bool, text: String)? {
    let trimmed = line.trimmingCharacters(in: .whitespaces)
    if let first = trimmed.first, "-*+".contains(first), trimmed.dropFirst().first == " " {
        return (false, trimmed.dropFirst(2).trimmingCharacters(in: .whitespaces))
    }
    let digits = trimmed.prefix(while: \.isNumber)
    let rest = trimmed.dropFirst(digits.count)
    if !digits.isEmpty, digits.count <= 9, let mark = rest.first, mark == "." || mark == ")", rest.dropFirst().first == " " {
        return (true, rest.dropFirst(2).trimmingCharacters(in: .whitespaces))
    }
    return nil
}

private func isTableSeparator(_ line: String) -> Bool {
    let cells = tableCells(line)
    return line.contains("-") && !cells.isEmpty && cells.allSatisfy { cell in
        let core = cell.trimmingCharacters(in: CharacterSet(charactersIn: ":"))
        return !core.isEmpty && core.allSatisfy { $0 == "-" }
    }
}

/// Splits "| a | b \| c |" into ["a", "b | c"].
func tableCells(_ line: String) -> [String] {
    var trimmed = line.trimmingCharacters(in: .whitespaces)
    if trimmed.hasPrefix("|") { trimmed.removeFirst() }
    if trimmed.hasSuffix("|") && !trimmed.hasSuffix("\\|") { trimmed.removeLast() }
    var cells: [String] = []
    var cell = ""
    var escaped = false
    for character in trimmed {
        if escaped {
            cell.append(character == "|" ? "|" : "\\\(character)")
            escaped = false
        } else if character == "\\" {
            escaped = true
        } else if character == "|" {
            cells.append(cell.trimmingCharacters(in: .whitespaces))
            cell = ""
        } else {
            cell.append(character)
        }
    }
    if escaped { cell.append("\\") }
    cells.append(cell.trimmingCharacters(in: .whitespaces))
    return cells
}

private func alignment(_ separator: String) -> String {
    switch (separator.hasPrefix(":"), separator.hasSuffix(":")) {
    case (true, true): return "center"
    case (false, true): return "right"
    case (true, false): return "left"
    case (false, false): return ""
    }
}

// MARK: - Inline

/// Inline markdown of one block, escaped. Code spans are cut out first so that nothing
/// inside backticks is read as emphasis or a link.
func inlineHTML(_ text: String) -> String {
    var out = ""
    var rest = Substring(text)
    while let open = rest.firstIndex(of: "`") {
        let ticks = rest[open...].prefix(while: { $0 == "`" })
        let afterOpen = ticks.endIndex
        guard let close = rest[afterOpen...].range(of: String(ticks)) else { break }
        out += emphasis(escapeHTML(String(rest[..<open])))
        let code = rest[afterOpen..<close.lowerBound].trimmingCharacters(in: .whitespaces)
        out += "<code>\(escapeHTML(code))</code>"
        rest = rest[close.upperBound...]
    }
    out += emphasis(escapeHTML(String(rest)))
    return out
}

/// Links, bold and italic on already-escaped text.
private func emphasis(_ escaped: String) -> String {
    var text = escaped
    text = replacing(#"\[([^\]]+)\]\(((?:https?://|mailto:|#|\.{0,2}/|[A-Za-z0-9_-])[^\s)]*)\)"#, in: text,
                     with: "<a href=\"$2\">$1</a>")
    text = replacing(#"\*\*(?=\S)(.+?)(?<=\S)\*\*"#, in: text, with: "<strong>$1</strong>")
    // Underscores are left alone: metric names such as val_loss are full of them.
    text = replacing(#"(?<![\*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\*\w])"#, in: text, with: "<em>$1</em>")
    return text
}

private func replacing(_ pattern: String, in text: String, with template: String) -> String {
    guard let regex = try? NSRegularExpression(pattern: pattern) else { return text }
    return regex.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: template)
}

/// Escapes the five characters that can change the meaning of HTML text or attributes.
public func escapeHTML(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for character in text {
        switch character {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(character)
        }
    }
    return out
}

/// A Markdown table, every cell escaped (a pipe would split it, a newline end the row).
///
///     markdownTable(["kernel", "error"], [["lean", "1e-7"]])   // "| kernel | error |\n|---|---|\n| lean | 1e-7 |\n"
public func markdownTable(_ header: [String], _ rows: [[String]], trailingNewline: Bool = true) -> String {
    func row(_ cells: [String]) -> String { "| " + cells.map(markdownCell).joined(separator: " | ") + " |" }
    let lines = [row(header), "|" + header.map { _ in "---" }.joined(separator: "|") + "|"] + rows.map(row)
    return lines.joined(separator: "\n") + (trailingNewline ? "\n" : "")
}

/// A table cell: pipes would split the cell and newlines would end the row.
func markdownCell(_ text: String) -> String {
    text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
}
