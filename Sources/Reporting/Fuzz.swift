import Foundation

/// Mutations of a valid input for fuzzing the readers: each call edits a few places (flip a byte,
/// delete or duplicate a span, insert a token the grammar knows, truncate), so most results are
/// near-valid and reach deep into the parser rather than failing at the first byte. Seeded
/// (splitmix64), so a failing case is reproduced by its seed and index.
public struct Mutator {
    private var state: UInt64
    /// Fragments worth inserting: JSON5 syntax, numbers at the edges of Double, odd strings.
    public static let tokens: [String] = ["{", "}", "[", "]", ":", ",", "\"", "'", "//", "/*", "*/", "\\", "\\u", "\\u00",
        "null", "true", "false", "NaN", "Infinity", "-Infinity", "1e309", "-0", "0x", "1e-400", "9007199254740993",
        "18446744073709551616", "-1", "0", "=", "==", ".", "..", "\n", "\t", " ", "\u{0}", "\u{FEFF}", "é", "\u{10FFFF}"]

    public init(seed: UInt64) { state = seed }

    private mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }

    /// `input` with 1–4 random edits.
    public mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var b = input
        for _ in 0...below(4) {
            let i = below(b.count + 1)
            switch below(6) {
            case 0 where !b.isEmpty: b[below(b.count)] = UInt8(truncatingIfNeeded: next())
            case 1 where !b.isEmpty:
                let s = below(b.count), n = 1 + below(Swift.min(16, b.count - s))
                b.removeSubrange(s..<(s + n))
            case 2 where !b.isEmpty:
                let s = below(b.count), n = 1 + below(Swift.min(32, b.count - s))
                b.insert(contentsOf: b[s..<(s + n)], at: i)
            case 3: b = Array(b.prefix(i))
            default: b.insert(contentsOf: Array(Mutator.tokens[below(Mutator.tokens.count)].utf8), at: i)
            }
        }
        return b
    }
}
