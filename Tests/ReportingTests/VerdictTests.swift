import Foundation
import Testing
@testable import Reporting

/// A claim with only what the verdict depends on.
func makeClaim(_ kind: ClaimExpectation.Kind, reported: Reported?, derived: Double? = nil, better: Better = .lower,
               tol: Double? = nil, threshold: Double? = nil, neutral: Double? = nil,
               scale: String = "ci", sameScaleOnly: Bool = false) -> Claim {
    Claim(id: "c", group: "g", source: "Table 1", quote: reported == nil ? "a quote" : nil, metric: "m",
          better: better, scale: scale, reported: reported, derived: derived,
          derivation: derived == nil ? nil : "by hand",
          expect: ClaimExpectation(kind: kind, tol: tol, threshold: threshold, neutral: neutral, sameScaleOnly: sameScaleOnly))
}

func verdict(_ claim: Claim, _ values: Double..., runScale: String = "ci") -> Verdict {
    judge(claim, measurement: MeasuredValues(values: values), runScale: runScale).verdict
}

@Suite("Verdicts")
struct VerdictTests {
    @Test func verdictWordsAreFixed() {
        #expect(Verdict.allCases.map(\.rawValue) == [
            "reproduced", "direction only", "not reproduced", "not comparable at this scale", "not measured",
        ])
    }

    @Test func absolute() {
        let claim = makeClaim(.abs, reported: .value(1.88), tol: 0.07)
        #expect(verdict(claim, 1.90) == .reproduced)
        #expect(verdict(claim, 1.81) == .reproduced)
        #expect(verdict(claim, 1.95) == .reproduced)  // 1.88 + 0.07 rounds below 1.95 in binary
        #expect(verdict(claim, 1.96) == .notReproduced)
        #expect(verdict(claim, 1.80) == .notReproduced)
    }

    @Test func relative() {
        let claim = makeClaim(.rel, reported: .value(-2), tol: 0.1)  // |r| so negative r works
        #expect(verdict(claim, -2.2) == .reproduced)
        #expect(verdict(claim, -1.8) == .reproduced)
        #expect(verdict(claim, -2.21) == .notReproduced)
        #expect(verdict(claim, -1.79) == .notReproduced)
    }

    @Test func noWorseWhenLowerIsBetter() {
        let claim = makeClaim(.noWorse, reported: .value(1.5), better: .lower, tol: 0.05)
        #expect(verdict(claim, 0.1) == .reproduced)  // much better is fine
        #expect(verdict(claim, 1.55) == .reproduced)
        #expect(verdict(claim, 1.56) == .notReproduced)
    }

    @Test func noWorseWhenHigherIsBetter() {
        let claim = makeClaim(.noWorse, reported: .value(0.9), better: .higher, tol: 0.02)
        #expect(verdict(claim, 0.99) == .reproduced)
        #expect(verdict(claim, 0.88) == .reproduced)
        #expect(verdict(claim, 0.87) == .notReproduced)
        // tol defaults to 0: exactly the paper's number is "no worse".
        let strict = makeClaim(.noWorse, reported: .value(0.9), better: .higher)
        #expect(verdict(strict, 0.9) == .reproduced)
        #expect(verdict(strict, 0.8999) == .notReproduced)
    }

    /// Qualitative claim: no number at all, only a direction ("variant minus baseline < 0").
    @Test func signWithoutAReportedNumber() {
        let lower = makeClaim(.sign, reported: nil, better: .lower)
        #expect(lower.isQualitative)
        #expect(verdict(lower, -0.01) == .reproduced)
        #expect(verdict(lower, 0) == .notReproduced)  // strictly on the better side
        #expect(verdict(lower, 0.01) == .notReproduced)
        let higher = makeClaim(.sign, reported: nil, better: .higher, threshold: 1)
        #expect(verdict(higher, 1.2) == .reproduced)
        #expect(verdict(higher, 1) == .notReproduced)
        #expect(verdict(higher, 0.9) == .notReproduced)
    }

    @Test func reportedRange() {
        let claim = makeClaim(.range, reported: .range(1.2, 1.4))
        #expect(verdict(claim, 1.3) == .reproduced)  // inside
        #expect(verdict(claim, 1.2) == .reproduced)  // on the boundary
        #expect(verdict(claim, 1.4) == .reproduced)
        #expect(verdict(claim, 1.41) == .notReproduced)  // outside
        #expect(verdict(claim, 1.19) == .notReproduced)
        let widened = makeClaim(.range, reported: .range(1.2, 1.4), tol: 0.05)
        #expect(verdict(widened, 1.45) == .reproduced)
        #expect(verdict(widened, 1.15) == .reproduced)
        #expect(verdict(widened, 1.46) == .notReproduced)
    }

    @Test func directionOnlyWithNeutral() {
        // Speed-up ratio: the paper says 2.6×, we measure 1.4×: faster, not as much.
        let speedup = makeClaim(.rel, reported: .value(2.6), better: .higher, tol: 0.1, neutral: 1)
        #expect(verdict(speedup, 2.5) == .reproduced)
        #expect(verdict(speedup, 1.4) == .directionOnly)
        #expect(verdict(speedup, 0.8) == .notReproduced)  // slower: the other side of 1
        #expect(verdict(speedup, 1.0) == .notReproduced)  // on neutral is no direction
        // Difference claim below 0, with a range.
        let difference = makeClaim(.range, reported: .range(-0.3, -0.1), tol: 0, neutral: 0)
        #expect(verdict(difference, -0.02) == .directionOnly)
        #expect(verdict(difference, 0.02) == .notReproduced)
        // Without neutral there is no "direction only".
        let plain = makeClaim(.rel, reported: .value(2.6), better: .higher, tol: 0.1)
        #expect(verdict(plain, 1.4) == .notReproduced)
    }

    @Test func reportOnlyIsNeverJudged() {
        let claim = makeClaim(.reportOnly, reported: .value(3.002), scale: "paper")
        #expect(verdict(claim, 3.002) == .notComparable)
        #expect(verdict(claim, 100) == .notComparable)
        #expect(claim.acceptance == nil)
    }

    @Test func sameScaleOnly() {
        let claim = makeClaim(.abs, reported: .value(1.88), tol: 0.07, scale: "baby-cpu", sameScaleOnly: true)
        #expect(verdict(claim, 1.9, runScale: "baby-cpu") == .reproduced)
        let elsewhere = judge(claim, measurement: MeasuredValues(1.9), runScale: "ci")
        #expect(elsewhere.verdict == .notComparable)
        #expect(elsewhere.note == #"claim is at scale "baby-cpu", this run at "ci""#)
        // Without the flag, scale is shown but does not stop the comparison.
        let loose = makeClaim(.abs, reported: .value(1.88), tol: 0.07, scale: "baby-cpu")
        #expect(verdict(loose, 1.9, runScale: "ci") == .reproduced)
    }

    @Test func notMeasured() {
        let claim = makeClaim(.abs, reported: .value(1.88), tol: 0.07)
        #expect(judge(claim, measurement: nil, runScale: "ci").verdict == .notMeasured)
        #expect(judge(claim, measurement: MeasuredValues(values: []), runScale: "ci").verdict == .notMeasured)
        // Takes precedence over report_only: there is nothing to show either way.
        let shown = makeClaim(.reportOnly, reported: .value(1))
        #expect(judge(shown, measurement: nil, runScale: "ci").verdict == .notMeasured)
    }

    @Test func nonFiniteMeasurementIsNotReproducedWithANote() {
        let claim = makeClaim(.abs, reported: .value(1.88), tol: 10)
        let nan = judge(claim, measurement: MeasuredValues(1.9, .nan, 1.8), runScale: "ci")
        #expect(nan.verdict == .notReproduced)
        #expect(nan.note == "non-finite measurement: NaN in value 2 of 3")
        let inf = judge(makeClaim(.noWorse, reported: .value(1), better: .higher), measurement: MeasuredValues(.infinity), runScale: "ci")
        #expect(inf.verdict == .notReproduced)
        #expect(inf.note == "non-finite measurement: inf in value 1 of 1")
        #expect(verdict(makeClaim(.sign, reported: nil, better: .lower), -.infinity) == .notReproduced)
    }

    @Test func derivedTakesPrecedenceOverReported() {
        // The paper says 7.9; our arithmetic from its formula says 8; the run measures 8.
        let claim = makeClaim(.rel, reported: .value(7.9), derived: 8, better: .none, tol: 0.001)
        #expect(claim.comparison == .value(8))
        #expect(verdict(claim, 8) == .reproduced)
        #expect(verdict(claim, 7.9) == .notReproduced)
    }

    @Test func judgedOnTheMeanOverSeeds() throws {
        let claim = makeClaim(.abs, reported: .value(1.0), tol: 0.05)
        // Seeds straddle the bound; the mean 1.04 is inside.
        #expect(verdict(claim, 0.98, 1.10) == .reproduced)
        #expect(verdict(claim, 1.10, 1.12) == .notReproduced)

        let measurement = MeasuredValues(1.0, 2.0, 3.0, 4.0)
        #expect(measurement.n == 4)
        #expect(measurement.mean == 2.5)
        let std = try #require(measurement.std)
        #expect(Swift.abs(std - (5.0 / 3.0).squareRoot()) < 1e-12)  // sample (n − 1) std
        #expect(MeasuredValues(1.5).std == nil)
        #expect(measurement.text == "2.5 ± 1.3 (n=4)")
        #expect(MeasuredValues(1.912345).text == "1.912 (n=1)")
    }

    @Test func collectGathersSeeds() {
        let measured = MeasuredValues.collect([["loss": 1, "acc": 0.5], ["loss": 3]])
        #expect(measured["loss"] == MeasuredValues(1, 3))
        #expect(measured["acc"] == MeasuredValues(0.5))
    }

    @Test func acceptanceIntervals() {
        #expect(makeClaim(.abs, reported: .value(1), tol: 0.5).acceptance == Acceptance(lower: 0.5, upper: 1.5))
        #expect(makeClaim(.noWorse, reported: .value(1), better: .lower, tol: 0.5).acceptance
                    == Acceptance(lower: -.infinity, upper: 1.5))
        #expect(makeClaim(.sign, reported: nil, better: .higher).acceptance
                    == Acceptance(lower: 0, upper: .infinity, lowerStrict: true))
    }
}
