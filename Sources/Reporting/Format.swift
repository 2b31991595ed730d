import Foundation

/// A measured number for a report: 4 significant digits, integers without decimals.
///
///     formatNumber(1.912345)   // "1.912"
///     formatNumber(3.0)        // "3"
///     formatNumber(124000000)  // "124,000,000"
///     formatNumber(0.00001234) // "1.234e-5"
///     formatNumber(.nan)       // "NaN"
///
/// Thousands separators start at 10,000 so that years and small counts read naturally.
public func formatNumber(_ value: Double, significantDigits digits: Int = 4) -> String {
    guard value.isFinite else { return value.isNaN ? "NaN" : (value > 0 ? "inf" : "-inf") }
    if value == 0 { return "0" }
    let magnitude = Swift.abs(value)
    if value.rounded() == value && magnitude < 1e15 {
        return groupThousands(String(format: "%.0f", value))
    }
    if magnitude >= 1e5 {
        // Fractions of large numbers are noise in a report; counts and throughputs dominate here.
        return groupThousands(String(format: "%.0f", value.rounded()))
    }
    if magnitude < 1e-3 {
        return scientific(value, digits: digits)
    }
    let decimals = max(0, digits - 1 - Int(floor(log10(magnitude))))
    let text = trimZeros(String(format: "%.\(decimals)f", value))
    return text.contains(".") ? text : groupThousands(text)
}

/// A transcribed number exactly as typed: the shortest text that reads back to the same Double,
/// so the paper's 1.4697 stays 1.4697 and 8 stays 8 (not 8.0). Large integers get thousands
/// separators, as in `formatNumber`, so a count reads the same in both columns.
public func formatVerbatim(_ value: Double) -> String {
    guard value.isFinite else { return value.isNaN ? "NaN" : (value > 0 ? "inf" : "-inf") }
    if value == 0 { return "0" }  // also -0, which "%.0f" would print as "-0"
    if value.rounded() == value && Swift.abs(value) < 1e15 {
        return groupThousands(String(format: "%.0f", value))
    }
    let text = "\(value)"
    return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
}

/// "1.234e-5": C's "%.3e" gives "1.234e-05"; the padding is noise.
private func scientific(_ value: Double, digits: Int) -> String {
    let text = String(format: "%.\(max(0, digits - 1))e", value)
    guard let e = text.firstIndex(of: "e") else { return text }
    let mantissa = trimZeros(String(text[..<e]))
    var exponent = String(text[text.index(after: e)...])
    let sign = exponent.hasPrefix("-") ? "-" : ""
    exponent = String(exponent.drop(while: { $0 == "+" || $0 == "-" || $0 == "0" }))
    return "\(mantissa)e\(sign)\(exponent.isEmpty ? "0" : exponent)"
}

private func trimZeros(_ text: String) -> String {
    guard text.contains(".") else { return text }
    var trimmed = text
    while trimmed.hasSuffix("0") { trimmed.removeLast() }
    if trimmed.hasSuffix(".") { trimmed.removeLast() }
    return trimmed == "-0" ? "0" : trimmed
}

private func groupThousands(_ digits: String) -> String {
    let negative = digits.hasPrefix("-")
    let body = negative ? String(digits.dropFirst()) : digits
    guard body.count > 4 else { return digits }
    var groups: [Substring] = []
    var end = body.endIndex
    while end > body.startIndex {
        let start = body.index(end, offsetBy: -3, limitedBy: body.startIndex) ?? body.startIndex
        groups.insert(body[start..<end], at: 0)
        end = start
    }
    return (negative ? "-" : "") + groups.joined(separator: ",")
}
