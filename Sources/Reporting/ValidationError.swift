import Foundation

/// The one error this module throws for a bad claims file, baseline or metrics file.
///
/// Files are edited by hand, so the message must point at the exact spot: which file,
/// which claim (or metric), which field, and what was wrong:
///
///     papers/nanogpt/claims.json5: claim "baby.val_loss": field "expect.kind": unknown value "abss" (expected one of abs, rel, no_worse, sign, range, report_only)
///
/// Validation stops at the first problem: one precise message beats a page of follow-on errors.
public struct ValidationError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// The file as the caller named it (e.g. `papers/nanogpt/claims.json5`).
    public let file: String
    /// 1-based line and column, for syntax errors.
    public let line: Int?
    public let column: Int?
    /// What inside the file: `claim "baby.val_loss"`, `claim #3`, `metric "val_loss"`; nil at top level.
    public let item: String?
    /// Dotted field path inside the item, e.g. `expect.kind`.
    public let field: String?
    /// What is wrong, in plain words.
    public let problem: String

    public init(file: String, line: Int? = nil, column: Int? = nil, item: String? = nil,
                field: String? = nil, problem: String) {
        self.file = file
        self.line = line
        self.column = column
        self.item = item
        self.field = field
        self.problem = problem
    }

    public var description: String {
        var location = file
        if let line {
            location += ":\(line)"
            if let column { location += ":\(column)" }
        }
        var parts = [location]
        if let item { parts.append(item) }
        if let field { parts.append("field \"\(field)\"") }
        parts.append(problem)
        return parts.joined(separator: ": ")
    }

    public var errorDescription: String? { description }
}

// MARK: - Helpers shared by the validators

/// `"; did you mean \"quote\"?"` when one candidate is a likely typo of `word`, else "".
public func suggestion(for word: String, among candidates: [String]) -> String {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(1, min(2, word.count / 3)) else {
        return ""
    }
    return "; did you mean \"\(best.0)\"?"
}

/// Levenshtein distance; inputs are field names, so the quadratic table is fine.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
            current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
