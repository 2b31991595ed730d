import Foundation

/// The outcome of comparing a run with one claim. Computed by `judge`, never typed by hand.
public enum Verdict: String, Sendable, Equatable, CaseIterable {
    case reproduced = "reproduced"
    /// Outside tolerance, but on the same side of the claim's `neutral` as the paper's number.
    case directionOnly = "direction only"
    case notReproduced = "not reproduced"
    /// `report_only` claims, and `same_scale_only` claims judged on a run at another scale.
    case notComparable = "not comparable at this scale"
    /// The run has no value for the claim's metric.
    case notMeasured = "not measured"
}

/// One metric as measured by a run: one value per seed.
public struct MeasuredValues: Sendable, Equatable {
    public var values: [Double]

    public init(values: [Double]) { self.values = values }
    public init(_ values: Double...) { self.values = values }

    public var n: Int { values.count }

    /// The value that is judged.
    public var mean: Double { values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count) }

    /// Sample standard deviation (n − 1), or nil for a single seed: one seed has no spread to show.
    public var std: Double? {
        guard values.count >= 2 else { return nil }
        let mean = self.mean
        let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return (squares / Double(values.count - 1)).squareRoot()
    }

    /// Gathers per-seed metric dictionaries into one measurement per metric name.
    ///
    ///     let measured = MeasuredValues.collect(seedRuns.map(\.metrics))
    public static func collect(_ runs: [[String: Double]]) -> [String: MeasuredValues] {
        var result: [String: MeasuredValues] = [:]
        for run in runs {
            for (name, value) in run { result[name, default: MeasuredValues(values: [])].values.append(value) }
        }
        return result
    }
}

/// The measured values a claim accepts, e.g. [1.81, 1.95] for `abs` 1.88 ± 0.07.
public struct Acceptance: Sendable, Equatable {
    public var lower: Double
    public var upper: Double
    /// Strict bounds exclude the bound itself (`sign`: "strictly below 0").
    public var lowerStrict: Bool
    public var upperStrict: Bool

    public init(lower: Double, upper: Double, lowerStrict: Bool = false, upperStrict: Bool = false) {
        self.lower = lower
        self.upper = upper
        self.lowerStrict = lowerStrict
        self.upperStrict = upperStrict
    }

    /// Inclusive bounds get a relative slack of 1e-12 so that a measurement printed equal to the
    /// bound passes: 1.88 + 0.07 is 1.9499999999999997 in binary, and 1.95 must be accepted.
    public func contains(_ value: Double) -> Bool {
        guard !value.isNaN else { return false }
        let aboveLower = lowerStrict ? value > lower : value >= lower - slack(lower)
        let belowUpper = upperStrict ? value < upper : value <= upper + slack(upper)
        return aboveLower && belowUpper
    }

    private func slack(_ bound: Double) -> Double {
        bound.isFinite ? 1e-12 * Swift.max(1, Swift.abs(bound)) : 0
    }
}

extension Claim {
    /// The tolerance rule, written once: what each `expect.kind` accepts as a measured mean.
    /// Nil for `report_only`, which is never judged, and for a claim without the number its kind
    /// needs (validation rules that out for files read by `ClaimsFile`).
    public var acceptance: Acceptance? {
        let tol = expect.tol ?? 0
        switch (expect.kind, comparison) {
        case (.abs, .value(let r)?):
            return Acceptance(lower: r - tol, upper: r + tol)
        case (.rel, .value(let r)?):
            return Acceptance(lower: r - tol * Swift.abs(r), upper: r + tol * Swift.abs(r))
        case (.noWorse, .value(let r)?):
            // Worse means higher when lower is better, and the other way round.
            return better == .lower ? Acceptance(lower: -.infinity, upper: r + tol)
                                    : Acceptance(lower: r - tol, upper: .infinity)
        case (.sign, _):
            let threshold = expect.threshold ?? 0
            return better == .lower ? Acceptance(lower: -.infinity, upper: threshold, upperStrict: true)
                                    : Acceptance(lower: threshold, upper: .infinity, lowerStrict: true)
        case (.range, .range(let lo, let hi)?):
            return Acceptance(lower: lo - tol, upper: hi + tol)
        default:
            return nil
        }
    }

    /// True when `value` lies strictly on the same side of `expect.neutral` as the comparison value.
    func sameSideOfNeutral(_ value: Double) -> Bool {
        guard let neutral = expect.neutral, let comparison else { return false }
        let side: (Double) -> Int = { $0 > neutral ? 1 : $0 < neutral ? -1 : 0 }
        switch comparison {
        case .value(let r):
            return side(r) != 0 && side(value) == side(r)
        case .range(let lo, let hi):
            return side(lo) != 0 && side(lo) == side(hi) && side(value) == side(lo)
        }
    }
}

/// A claim, what the run measured for it, and the verdict.
public struct Judgment: Sendable, Equatable {
    public var claim: Claim
    public var measurement: MeasuredValues?
    public var verdict: Verdict
    /// Why, when the verdict needs explaining (non-finite values, scale mismatch).
    public var note: String?

    public init(claim: Claim, measurement: MeasuredValues?, verdict: Verdict, note: String? = nil) {
        self.claim = claim
        self.measurement = measurement
        self.verdict = verdict
        self.note = note
    }
}

/// Judges one claim against a run. `runScale` is the scale the run was made at ("ci", "baby-cpu").
///
/// The order of the checks is the rule:
/// 1. no value for the metric → not measured;
/// 2. `report_only`, or `same_scale_only` at another scale → not comparable at this scale;
/// 3. a NaN or infinite value → not reproduced (a diverged run reproduces nothing);
/// 4. the mean over seeds inside `claim.acceptance` → reproduced;
/// 5. outside, but on the paper's side of `expect.neutral` → direction only;
/// 6. otherwise → not reproduced.
public func judge(_ claim: Claim, measurement: MeasuredValues?, runScale: String) -> Judgment {
    func verdict(_ verdict: Verdict, _ note: String? = nil) -> Judgment {
        Judgment(claim: claim, measurement: measurement, verdict: verdict, note: note)
    }
    guard let measurement, measurement.n > 0 else {
        return verdict(.notMeasured, "no value for metric \"\(claim.metric)\" in this run")
    }
    if claim.expect.kind == .reportOnly {
        return verdict(.notComparable)
    }
    if claim.expect.sameScaleOnly && claim.scale != runScale {
        return verdict(.notComparable, "claim is at scale \"\(claim.scale)\", this run at \"\(runScale)\"")
    }
    let bad = measurement.values.enumerated().filter { !$0.element.isFinite }
    if !bad.isEmpty {
        let seeds = bad.map { "\(formatNumber($0.element)) in value \($0.offset + 1) of \(measurement.n)" }
        return verdict(.notReproduced, "non-finite measurement: " + seeds.joined(separator: ", "))
    }
    guard let acceptance = claim.acceptance else {
        return verdict(.notComparable, "no number to compare with")
    }
    let mean = measurement.mean
    if acceptance.contains(mean) { return verdict(.reproduced) }
    if claim.sameSideOfNeutral(mean) { return verdict(.directionOnly) }
    return verdict(.notReproduced)
}
