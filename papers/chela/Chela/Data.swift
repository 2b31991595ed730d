import Foundation
import Replicate

// The two generated tasks (../shared/papers/chela.md §4): ListOps, ported rule for rule from the
// LRA generator's description (lengths shortened so it trains on 2 cores), and multi-query
// associative recall (MQAR, Zoology's construction). Both are seeded and written to HDF5 with
// their generator config, so a user opens the exact data a run trained on.

// MARK: - ListOps

/// The generator's knobs, named as LRA's flags (`max_depth`, `max_args`, `min_length`,
/// `max_length`); LRA itself uses 10, 10, 500, 2000 and 96k/2k/2k sequences.
public struct ListOpsConfig: Codable, Equatable, Sendable {
    public var maxDepth = 10
    public var maxArgs = 10
    /// Kept lengths satisfy min_length < length < max_length (strictly, as LRA).
    public var minLength = 50
    public var maxLength = 250
    public var train = 4000
    public var val = 500
    public var test = 500
    public var seed: UInt64 = 2024
    public init() {}

    public func validate(prefix p: String) throws {
        // Each node has 0.25·(max_args + 2)/2 children on average (above 1 for LRA's 10): the depth
        // bound is what keeps a tree finite, so both stay near LRA's values.
        try requireConfig(maxDepth, "\(p).max_depth", in: 1...12)
        try requireConfig(maxArgs, "\(p).max_args", in: 2...12)
        try requireConfig(minLength >= 1 && maxLength > minLength + 1, "\(p).max_length", maxLength,
                          "must exceed min_length (\(minLength)) + 1: lengths are kept when min_length < length < max_length")
        try requireConfig(maxLength <= 100_000, "\(p).max_length", maxLength, "must be at most 100000")
        for (k, v) in [("train", train), ("val", val), ("test", test)] {
            try requireConfig(v >= 1 && v <= 1_000_000, "\(p).\(k)", v, "must be in 1…1000000")
        }
    }
}

/// The four operators LRA enables (FIRST and LAST are defined there but off).
public enum ListOp: String, CaseIterable, Sendable {
    case min = "[MIN", max = "[MAX", med = "[MED", sm = "[SM"

    /// MED is `int(np.median(args))`: the mean of the two middle values for an even count,
    /// truncated; SM is the sum mod 10.
    public func apply(_ args: [Int]) -> Int {
        switch self {
        case .min: return args.min()!
        case .max: return args.max()!
        case .med:
            let s = args.sorted(), n = s.count
            return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2     // non-negative: / truncates
        case .sm: return args.reduce(0, +) % 10
        }
    }
}

/// An expression: a digit, or an operator applied to two or more expressions.
public indirect enum ListOpsTree: Hashable, Sendable {
    case value(Int)
    case apply(ListOp, [ListOpsTree])

    /// The token count after the loaders' rewrite (each operator and each closing bracket is one
    /// token, the parentheses are dropped): the generator's `length`.
    public var length: Int {
        switch self {
        case .value: return 1
        case .apply(_, let children): return 2 + children.reduce(0) { $0 + $1.length }
        }
    }

    public var label: Int {
        switch self {
        case .value(let v): return v
        case .apply(let op, let children): return op.apply(children.map(\.label))
        }
    }

    /// Tokens as LRA's loaders see them: `[MAX 2 9 [MIN 4 7 X 0 X` (']' written as X).
    public var tokens: [String] {
        switch self {
        case .value(let v): return [String(v)]
        case .apply(let op, let children): return [op.rawValue] + children.flatMap(\.tokens) + ["X"]
        }
    }
}

/// Token ids: S4's 18 (`<pad> <unk> <eos>`, the operators, X, the digits); <eos> ends every sequence.
public enum ListOpsVocabulary {
    public static let tokens = ["<pad>", "<unk>", "<eos>"] + ListOp.allCases.map(\.rawValue) + ["X"] + (0...9).map(String.init)
    public static let pad: Int32 = 0, eos: Int32 = 2
    static let ids: [String: Int32] = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, Int32($0)) })
    public static func encode(_ tokens: [String]) -> [Int32] { tokens.map { ids[$0] ?? 1 } + [eos] }
}

/// LRA's `generate_tree`: at depth < max_depth a leaf with probability 1 − 0.25 (VALUE_P = 0.25
/// is the chance of an operator), at max_depth always a leaf; an operator node draws its
/// argument count uniformly in 2…max_args and its operator uniformly.
public func generateListOpsTree(depth: Int, maxDepth: Int, maxArgs: Int, rng: inout RNG) -> ListOpsTree {
    let r = depth < maxDepth ? rng.nextDouble() : 1
    if r > 0.25 { return .value(rng.nextInt(below: 10)) }
    let n = 2 + rng.nextInt(below: maxArgs - 1)
    let children = (0..<n).map { _ in generateListOpsTree(depth: depth + 1, maxDepth: maxDepth, maxArgs: maxArgs, rng: &rng) }
    return .apply(ListOp.allCases[rng.nextInt(below: 4)], children)
}

/// Labelled token sequences, padded to one length: what a split is on disk and in training.
public struct SequenceSet: Equatable, Sendable {
    public var tokens: [Int32]        // count × width, padded with 0
    public var lengths: [Int]
    public var labels: [Int32]        // ListOps: one class per sequence; MQAR: one per position (−1 = no target)
    public var width: Int
    public var count: Int { lengths.count }

    public init(tokens: [Int32], lengths: [Int], labels: [Int32], width: Int) {
        self.tokens = tokens; self.lengths = lengths; self.labels = labels; self.width = width
    }

    public init(rows: [[Int32]], labels: [Int32], width: Int? = nil) {
        let w = width ?? rows.map(\.count).max() ?? 0
        var t = [Int32](repeating: 0, count: rows.count * w)
        for (i, r) in rows.enumerated() { for (j, v) in r.enumerated() { t[i * w + j] = v } }
        self.init(tokens: t, lengths: rows.map(\.count), labels: labels, width: w)
    }

    /// The sequences at `rows`, padded to their own longest rounded up to a multiple of 64 (at
    /// most `width`). Causal models never see the padding; the rounding keeps the number of
    /// distinct activation sizes small, so freed buffers can be reused by size (a profile with a
    /// width per batch page-faulted 4.5× as much as one with a fixed width).
    public func batch(_ rows: [Int]) -> SequenceSet {
        let longest = rows.map { lengths[$0] }.max() ?? 0
        let w = Swift.min(width, (longest + 63) / 64 * 64)
        let perRow = labels.count == count ? 1 : width
        var t = [Int32](repeating: 0, count: rows.count * w), l: [Int32] = []
        for (i, r) in rows.enumerated() {
            for j in 0..<w { t[i * w + j] = tokens[r * width + j] }
            if perRow == 1 { l.append(labels[r]) } else { l += labels[(r * width)..<(r * width + w)] }
        }
        return SequenceSet(tokens: t, lengths: rows.map { lengths[$0] }, labels: l, width: w)
    }
}

public struct ListOpsSplits: Equatable, Sendable {
    public var train: SequenceSet, val: SequenceSet, test: SequenceSet
    /// Trees drawn to collect them (LRA's acceptance rate is kept / drawn).
    public var drawn: Int
}

/// Draws trees until train + val + test distinct ones with min_length < length < max_length are
/// collected, shuffles them with the seed (LRA's order is a Python set's, i.e. arbitrary) and
/// splits them in that order.
public func generateListOps(_ c: ListOpsConfig) -> ListOpsSplits {
    var rng = RNG(seed: c.seed)
    let want = c.train + c.val + c.test
    var seen = Set<ListOpsTree>(), kept: [ListOpsTree] = [], drawn = 0
    // A bound on the draws so an impossible length window ends with an error, not a hang.
    while kept.count < want {
        let t = generateListOpsTree(depth: 1, maxDepth: c.maxDepth, maxArgs: c.maxArgs, rng: &rng)
        drawn += 1
        precondition(drawn < 1000 * want + 1_000_000, "ListOps: \(drawn) trees drawn and only \(kept.count) kept: the length window \(c.minLength)…\(c.maxLength) is too narrow for max_depth \(c.maxDepth), max_args \(c.maxArgs)")
        let n = t.length
        if n > c.minLength && n < c.maxLength && seen.insert(t).inserted { kept.append(t) }
    }
    for i in stride(from: kept.count - 1, to: 0, by: -1) { kept.swapAt(i, rng.nextInt(below: i + 1)) }
    func set(_ trees: ArraySlice<ListOpsTree>) -> SequenceSet {
        SequenceSet(rows: trees.map { ListOpsVocabulary.encode($0.tokens) }, labels: trees.map { Int32($0.label) }, width: c.maxLength)
    }
    return ListOpsSplits(train: set(kept[0..<c.train]), val: set(kept[c.train..<(c.train + c.val)]),
                         test: set(kept[(c.train + c.val)...]), drawn: drawn)
}

// MARK: - MQAR

/// Multi-query associative recall (Arora et al. 2023, "Zoology"): `pairs` key–value pairs up
/// front, then the keys asked again at positions with power-law gaps; the target at a query
/// position is the value its key was paired with. Keys come from 1..<vocab/2, values from
/// vocab/2..<vocab, token 0 fills the rest.
public struct MQARConfig: Codable, Equatable, Sendable {
    public var vocab = 32
    public var pairs = 4
    public var length = 256
    /// The gaps' distribution p(g) ∝ g^(a − 1) (Zoology's power_a).
    public var powerA = 0.01
    public var train = 8000
    public var test = 500
    public var seed: UInt64 = 2025
    public init() {}

    public func validate(prefix p: String) throws {
        try requireConfig(vocab >= 8 && vocab % 2 == 0 && vocab <= 1 << 20, "\(p).vocab", vocab, "must be even and in 8…1048576")
        try requireConfig(pairs >= 1 && pairs < vocab / 2, "\(p).pairs", pairs, "must be in 1…vocab/2 − 1 (\(vocab / 2 - 1)): keys are distinct")
        try requireConfig(length >= 4 * pairs && length <= 1 << 20, "\(p).length", length, "must be at least 4·pairs (\(4 * pairs)): the pairs and their queries fit")
        try requireConfig(powerA > 0 && powerA <= 1, "\(p).power_a", powerA, "must be in (0, 1]")
        for (k, v) in [("train", train), ("test", test)] { try requireConfig(v >= 1 && v <= 1_000_000, "\(p).\(k)", v, "must be in 1…1000000") }
    }
}

/// One MQAR sequence: tokens (length) and a target per position (−1 where nothing is asked).
public func mqarSequence(_ c: MQARConfig, rng: inout RNG) -> (tokens: [Int32], targets: [Int32]) {
    let half = c.vocab / 2, context = 2 * c.pairs
    var keyPool = Array(1..<half)
    for i in 0..<c.pairs { keyPool.swapAt(i, i + rng.nextInt(below: keyPool.count - i)) }
    let keys = Array(keyPool[0..<c.pairs]), values = (0..<c.pairs).map { _ in half + rng.nextInt(below: half) }
    var tokens = [Int32](repeating: 0, count: c.length), targets = [Int32](repeating: -1, count: c.length)
    for i in 0..<c.pairs { tokens[2 * i] = Int32(keys[i]); tokens[2 * i + 1] = Int32(values[i]) }
    // Gap slots 0..<space (query i sits at context + 2·gap_i), drawn without replacement with
    // weights (g + 1)^(a − 1): short gaps are far more likely, long ones still occur.
    let space = (c.length - context) / 2
    var weights = (0..<space).map { Foundation.pow(Double($0 + 1), c.powerA - 1) }
    for i in 0..<c.pairs {
        var u = rng.nextDouble() * weights.reduce(0, +), g = 0
        while g < space - 1 && (u >= weights[g] || weights[g] == 0) { u -= weights[g]; g += 1 }
        weights[g] = 0
        tokens[context + 2 * g] = Int32(keys[i])
        targets[context + 2 * g] = Int32(values[i])
    }
    return (tokens, targets)
}

public struct MQARSplits: Equatable, Sendable { public var train: SequenceSet, test: SequenceSet }

public func generateMQAR(_ c: MQARConfig) -> MQARSplits {
    var rng = RNG(seed: c.seed)
    func set(_ n: Int) -> SequenceSet {
        let s = (0..<n).map { _ in mqarSequence(c, rng: &rng) }
        return SequenceSet(tokens: s.flatMap(\.tokens), lengths: [Int](repeating: c.length, count: n), labels: s.flatMap(\.targets), width: c.length)
    }
    let train = set(c.train)
    return MQARSplits(train: train, test: set(c.test))
}

// MARK: - On disk

/// Writes the splits to `path` atomically (groups per split: tokens (N, W) int32, lengths,
/// labels; the generator's config as JSON and the seed as attributes), or, when the file exists
/// (a resumed run), checks that it holds exactly what the generator gives and reads it back.
/// Training always uses what the file holds. A damaged or different file is an error naming it.
public func storeSplits(_ splits: [(name: String, set: SequenceSet)], generator: String, configJSON: String, seed: UInt64,
                        to path: String, runConfig: String, provenance: Provenance) throws -> [SequenceSet] {
    if !FileManager.default.fileExists(atPath: path) {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try H5File.writeAtomically(to: path) { f in
            try f.setAttribute("kind", .string("generated data"))
            try f.setAttribute("generator", .string(generator))
            try f.setAttribute("generator_config", .string(configJSON))
            try f.setAttribute("generator_seed", .int(Int64(seed)))
            try f.setAttribute("config", .string(runConfig))
            try provenance.attach(to: f)
            for (name, s) in splits {
                try f.write("\(name)/tokens", s.tokens, shape: [s.count, s.width])
                try f.write("\(name)/lengths", s.lengths.map(Int64.init), shape: [s.count])
                try f.write("\(name)/labels", s.labels, shape: s.labels.count == s.count ? [s.count] : [s.count, s.width])
            }
        }
    }
    let stored: [SequenceSet]
    do {
        let f = try H5File.open(path)
        defer { try? f.close() }
        guard try f.stringAttribute("generator_config") == configJSON, try f.intAttribute("generator_seed") == Int64(seed) else {
            throw ReplicateError("\(path) was generated with another \(generator) config or seed; delete it (it is regenerated) or start a new run")
        }
        stored = try splits.map { name, _ in
            let t = try f.read("\(name)/tokens", as: Int32.self)
            return SequenceSet(tokens: t.values, lengths: try f.read("\(name)/lengths", as: Int64.self).values.map(Int.init),
                               labels: try f.read("\(name)/labels", as: Int32.self).values, width: t.shape.count == 2 ? t.shape[1] : 0)
        }
    } catch let e as ReplicateError { throw e } catch {
        throw ReplicateError("generated data file \(path) is damaged (\(error)); delete it (it is regenerated from its seed) and run again")
    }
    for ((name, want), got) in zip(splits, stored) where got != want {
        throw ReplicateError("\(path): split \(name) differs from what the \(generator) generator gives for its config and seed; delete it (it is regenerated) and run again")
    }
    return stored
}
