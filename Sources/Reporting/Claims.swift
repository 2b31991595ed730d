import Foundation

/// A paper's `claims.json5`: every number the paper reports that a run can be compared with.
///
/// Schema version 1 (STYLE.md §4):
///
///     { version: 1,
///       paper: { title: "...", authors: "...", year: 2024, arxiv: "2406.10906", url: "..." },
///       claims: [
///         { id: "baby.val_loss", group: "nanoGPT baseline", source: "nanoGPT README.md line 88",
///           quote: "gets us a loss of only 1.88", metric: "val_loss", better: "lower",
///           scale: "paper", reported: 1.88, unit: "nats/char",
///           expect: { kind: "abs", tol: 0.07 } } ] }
///
/// Three kinds of number are kept apart: `reported` (verbatim from the paper), `derived` (our
/// arithmetic from the paper's numbers, explained in `derivation`) and measured (only ever in a
/// run). Usage:
///
///     let claims = try ClaimsFile.load("papers/nanogpt/claims.json5")
public struct ClaimsFile: Sendable, Equatable {
    /// The schema version this build reads.
    public static let supportedVersion = 1

    public var version: Int
    public var paper: PaperInfo
    public var claims: [Claim]

    public init(version: Int = ClaimsFile.supportedVersion, paper: PaperInfo, claims: [Claim]) {
        self.version = version
        self.paper = paper
        self.claims = claims
    }

    /// Reads and validates a claims file; errors name `path` as given.
    public static func load(_ path: String) throws -> ClaimsFile {
        try ClaimsParser(file: path).parse(readJSON5(path: path))
    }

    /// Validates JSON5 text; `file` is the name used in error messages.
    public static func decode(_ data: Data, file: String) throws -> ClaimsFile {
        try ClaimsParser(file: file).parse(parseJSON5(data, file: file))
    }

    /// Claims in file order, grouped by `group` in order of first appearance.
    public var groups: [(name: String, claims: [Claim])] {
        var order: [String] = []
        var members: [String: [Claim]] = [:]
        for claim in claims {
            if members[claim.group] == nil { order.append(claim.group) }
            members[claim.group, default: []].append(claim)
        }
        return order.map { ($0, members[$0]!) }
    }
}

/// Bibliographic card of the paper.
public struct PaperInfo: Sendable, Equatable {
    public var title: String
    public var authors: String
    public var year: Int?
    public var arxiv: String?
    public var url: String?
    /// Reference code, e.g. `github.com/owner/repo@17842dd`.
    public var code: String?
    public var venue: String?

    public init(title: String, authors: String, year: Int? = nil, arxiv: String? = nil,
                url: String? = nil, code: String? = nil, venue: String? = nil) {
        self.title = title
        self.authors = authors
        self.year = year
        self.arxiv = arxiv
        self.url = url
        self.code = code
        self.venue = venue
    }
}

/// One number (or qualitative statement) from the paper and how to judge a run against it.
public struct Claim: Sendable, Equatable {
    /// Unique within the file, `[a-z0-9._-]+`.
    public var id: String
    /// One report table per group.
    public var group: String
    /// Table, figure, section or line the claim comes from.
    public var source: String
    /// Verbatim text from the paper; required for qualitative claims.
    public var quote: String?
    /// Key into the run's measured metrics.
    public var metric: String
    public var better: Better
    /// The setup the number was measured at: "paper", "baby-cpu", "ci", ...
    public var scale: String
    /// Verbatim from the paper; nil for a qualitative claim.
    public var reported: Reported?
    /// Our arithmetic from the paper's numbers or formulas; compared in preference to `reported`.
    public var derived: Double?
    /// How `derived` was obtained; required whenever `derived` is set.
    public var derivation: String?
    public var unit: String?
    /// Free remark shown in the report.
    public var note: String?
    public var expect: ClaimExpectation

    public init(id: String, group: String, source: String, quote: String? = nil, metric: String,
                better: Better, scale: String, reported: Reported?, derived: Double? = nil,
                derivation: String? = nil, unit: String? = nil, note: String? = nil,
                expect: ClaimExpectation) {
        self.id = id
        self.group = group
        self.source = source
        self.quote = quote
        self.metric = metric
        self.better = better
        self.scale = scale
        self.reported = reported
        self.derived = derived
        self.derivation = derivation
        self.unit = unit
        self.note = note
        self.expect = expect
    }

    /// The value a measurement is compared with: `derived` when present, else `reported`.
    public var comparison: Reported? {
        derived.map { .value($0) } ?? reported
    }

    /// A claim with neither a reported nor a derived number: judged by `sign` only, or shown.
    public var isQualitative: Bool { reported == nil && derived == nil }
}

/// Which direction of a metric is an improvement.
public enum Better: String, Sendable, Equatable, CaseIterable {
    case lower, higher, none
}

/// A number as the paper gives it: a single value or an interval.
public enum Reported: Sendable, Equatable {
    case value(Double)
    case range(Double, Double)
}

/// How a measurement is judged against a claim (`expect: { ... }` in the file).
public struct ClaimExpectation: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// |m − r| ≤ tol
        case abs
        /// |m − r| ≤ tol·|r|
        case rel
        /// m is worse than r by at most tol, in the `better` direction.
        case noWorse = "no_worse"
        /// m lies strictly on the `better` side of `threshold` (default 0).
        case sign
        /// m lies in the reported [lo, hi], widened by tol on each side.
        case range
        /// Shown side by side, never judged.
        case reportOnly = "report_only"
    }

    public var kind: Kind
    /// abs/rel: required; no_worse/range: defaults to 0; others: not allowed.
    public var tol: Double?
    /// sign only; defaults to 0.
    public var threshold: Double?
    /// A measurement outside tolerance on the same side of `neutral` as the comparison value
    /// is "direction only" (1 for speed-up ratios, 0 for differences).
    public var neutral: Double?
    /// When true, a run at a different scale than the claim is "not comparable at this scale".
    public var sameScaleOnly: Bool

    public init(kind: Kind, tol: Double? = nil, threshold: Double? = nil, neutral: Double? = nil,
                sameScaleOnly: Bool = false) {
        self.kind = kind
        self.tol = tol
        self.threshold = threshold
        self.neutral = neutral
        self.sameScaleOnly = sameScaleOnly
    }
}

// MARK: - Validation

/// Turns the untyped JSON tree into `ClaimsFile`, rejecting anything the schema does not allow.
private struct ClaimsParser {
    let file: String

    static let topKeys = ["version", "paper", "claims"]
    static let paperKeys = ["title", "authors", "year", "arxiv", "url", "code", "venue"]
    static let claimKeys = ["id", "group", "source", "quote", "metric", "better", "scale", "reported",
                            "derived", "derivation", "unit", "note", "expect"]
    static let expectKeys = ["kind", "tol", "threshold", "neutral", "same_scale_only"]

    func parse(_ root: JSONValue) throws -> ClaimsFile {
        let top = try ObjectReader(root, file: file, item: nil, path: nil)
        try top.rejectUnknownKeys(allowed: Self.topKeys)
        let version = try top.integer("version")
        guard version == ClaimsFile.supportedVersion else {
            throw top.error("version", "unsupported version \(version) (this build reads version \(ClaimsFile.supportedVersion))")
        }
        let paper = try parsePaper(top.required("paper"))
        let list = try top.required("claims")
        guard case .array(let entries) = list else {
            throw top.error("claims", "expected an array of claims, got \(list.kindDescription)")
        }
        var claims: [Claim] = []
        var firstUse: [String: Int] = [:]
        for (offset, entry) in entries.enumerated() {
            let claim = try parseClaim(entry, number: offset + 1)
            if let earlier = firstUse[claim.id] {
                throw ValidationError(file: file, item: "claim \"\(claim.id)\"", field: "id",
                                      problem: "duplicated id (claims #\(earlier) and #\(offset + 1))")
            }
            firstUse[claim.id] = offset + 1
            claims.append(claim)
        }
        return ClaimsFile(version: version, paper: paper, claims: claims)
    }

    func parsePaper(_ value: JSONValue) throws -> PaperInfo {
        let fields = try ObjectReader(value, file: file, item: nil, path: "paper")
        try fields.rejectUnknownKeys(allowed: Self.paperKeys)
        return PaperInfo(
            title: try fields.string("title"), authors: try fields.string("authors"),
            year: try fields.optionalInteger("year"), arxiv: try fields.optionalString("arxiv"),
            url: try fields.optionalString("url"), code: try fields.optionalString("code"),
            venue: try fields.optionalString("venue"))
    }

    /// `number` is 1-based, used to name the claim until its id is known to be valid.
    func parseClaim(_ value: JSONValue, number: Int) throws -> Claim {
        var fields = try ObjectReader(value, file: file, item: "claim #\(number)", path: nil)
        let id = try fields.string("id")
        guard id.unicodeScalars.allSatisfy({ "abcdefghijklmnopqrstuvwxyz0123456789._-".unicodeScalars.contains($0) }) else {
            throw fields.error("id", "\"\(id)\" must match [a-z0-9._-]+")
        }
        // From here on the claim is named by its id, which is what the author searches for.
        fields = try ObjectReader(value, file: file, item: "claim \"\(id)\"", path: nil)
        try fields.rejectUnknownKeys(allowed: Self.claimKeys)

        let group = try fields.string("group")
        let source = try fields.string("source")
        let quote = try fields.optionalString("quote")
        let metric = try fields.string("metric")
        let better = Better(rawValue: try fields.oneOf("better", Better.allCases.map(\.rawValue)))!
        let scale = try fields.string("scale")
        let reported = try parseReported(fields)
        let derived = try fields.optionalNumber("derived")
        let derivation = try fields.optionalString("derivation")
        let unit = try fields.optionalString("unit")
        let note = try fields.optionalString("note")
        let expect = try parseExpect(fields)

        if derived != nil && derivation == nil {
            throw fields.error("derivation", "missing: a \"derived\" number needs a \"derivation\" saying how it was obtained")
        }
        if derived == nil && derivation != nil {
            throw fields.error("derivation", "given without a \"derived\" number")
        }
        if reported == nil && derived == nil && quote == nil {
            throw fields.error("quote", "missing: a qualitative claim (reported: null) needs the paper's verbatim \"quote\"")
        }

        let claim = Claim(id: id, group: group, source: source, quote: quote, metric: metric,
                          better: better, scale: scale, reported: reported, derived: derived,
                          derivation: derivation, unit: unit, note: note, expect: expect)
        try checkConsistency(claim, fields)
        return claim
    }

    /// `reported` must be present, even as `null`, so a missing number is a decision, not an omission.
    func parseReported(_ fields: ObjectReader) throws -> Reported? {
        let value = try fields.required("reported")
        switch value {
        case .null:
            return nil
        case .number:
            return .value(try fields.finiteNumber(value, field: "reported"))
        case .array(let bounds):
            guard bounds.count == 2 else {
                throw fields.error("reported", "a range must be [lo, hi], got \(bounds.count) element(s)")
            }
            let lo = try fields.finiteNumber(bounds[0], field: "reported[0]")
            let hi = try fields.finiteNumber(bounds[1], field: "reported[1]")
            guard lo <= hi else {
                throw fields.error("reported", "range [\(formatVerbatim(lo)), \(formatVerbatim(hi))] has lo > hi")
            }
            return .range(lo, hi)
        default:
            throw fields.error("reported", "expected a number, a [lo, hi] range or null, got \(value.kindDescription)")
        }
    }

    func parseExpect(_ claimFields: ObjectReader) throws -> ClaimExpectation {
        let fields = try ObjectReader(claimFields.required("expect"), file: file, item: claimFields.item, path: "expect")
        try fields.rejectUnknownKeys(allowed: Self.expectKeys)
        let kind = ClaimExpectation.Kind(rawValue: try fields.oneOf("kind", ClaimExpectation.Kind.allCases.map(\.rawValue)))!

        // Which optional parameters each kind reads; any other one is a mistake, not a no-op.
        let accepts: [ClaimExpectation.Kind: Set<String>] = [
            .abs: ["tol", "neutral"], .rel: ["tol", "neutral"], .noWorse: ["tol", "neutral"],
            .range: ["tol", "neutral"], .sign: ["threshold"], .reportOnly: [],
        ]
        for key in ["tol", "threshold", "neutral"] where fields.has(key) && !accepts[kind]!.contains(key) {
            throw fields.error(key, "not used by kind \"\(kind.rawValue)\"")
        }
        if (kind == .abs || kind == .rel) && fields.optional("tol") == nil {
            throw fields.error("tol", "missing: kind \"\(kind.rawValue)\" needs a tolerance")
        }
        return ClaimExpectation(
            kind: kind, tol: try fields.optionalNonNegativeNumber("tol"),
            threshold: try fields.optionalNumber("threshold"), neutral: try fields.optionalNumber("neutral"),
            sameScaleOnly: try fields.optionalBool("same_scale_only") ?? false)
    }

    /// Rules that tie the expectation to the numbers it compares.
    func checkConsistency(_ claim: Claim, _ fields: ObjectReader) throws {
        let kind = claim.expect.kind
        switch kind {
        case .abs, .rel, .noWorse:
            switch claim.comparison {
            case nil:
                throw fields.error("reported", "kind \"\(kind.rawValue)\" needs a number to compare with (reported or derived)")
            case .range?:
                throw fields.error("reported", "kind \"\(kind.rawValue)\" needs a single number, got a range (use kind \"range\")")
            case .value?:
                break
            }
        case .range:
            guard case .range? = claim.comparison else {
                let what = claim.derived != nil ? "a derived number" : claim.reported == nil ? "null" : "a single number"
                throw fields.error("reported", "kind \"range\" needs reported: [lo, hi] and no derived number, got \(what)")
            }
        case .sign, .reportOnly:
            break
        }
        if (kind == .noWorse || kind == .sign) && claim.better == .none {
            throw fields.error("better", "kind \"\(kind.rawValue)\" needs better: \"lower\" or \"higher\", not \"none\"")
        }
        if let neutral = claim.expect.neutral {
            let straddles: Bool
            switch claim.comparison {
            case .value(let value)?: straddles = value == neutral
            case .range(let lo, let hi)?: straddles = lo <= neutral && neutral <= hi
            case nil: straddles = true
            }
            if straddles {
                throw fields.error("expect.neutral", "the compared value must lie strictly on one side of neutral \(formatVerbatim(neutral)), or \"direction only\" means nothing")
            }
        }
    }
}
