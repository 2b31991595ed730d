import Foundation

/// Our own blessed numbers for one preset, `papers/<name>/expected/<preset>.json`: what
/// `make check` gates on (STYLE.md §4, "two comparisons, kept apart").
///
///     { "version": 1, "paper": "nanogpt", "preset": "ci",
///       "metrics": { "val_loss": { "value": 1.23, "atol": 1e-4, "rtol": 1e-3 } } }
///
/// Only `bless` writes one, as pytest-regressions' `--force-regen` does.
public struct Baseline: Sendable, Equatable {
    public static let supportedVersion = 1

    public var version: Int
    public var paper: String
    public var preset: String
    public var metrics: [String: BaselineMetric]

    public init(version: Int = Baseline.supportedVersion, paper: String, preset: String,
                metrics: [String: BaselineMetric]) {
        self.version = version
        self.paper = paper
        self.preset = preset
        self.metrics = metrics
    }

    /// Reads and validates a baseline; errors name `path` and the metric.
    public static func load(_ path: String) throws -> Baseline {
        try parseBaseline(readJSON5(path: path), file: path)
    }

    public static func decode(_ data: Data, file: String) throws -> Baseline {
        try parseBaseline(parseJSON5(data, file: file), file: file)
    }

    /// Stable JSON: fixed key order, metrics sorted by name, one metric per line, so a re-bless
    /// shows up in `git diff` as exactly the numbers that moved.
    public func encoded() -> String {
        var lines = ["{", "  \"version\": \(version),", "  \"paper\": \(jsonString(paper)),",
                     "  \"preset\": \(jsonString(preset)),", "  \"metrics\": {"]
        let names = metrics.keys.sorted()
        for (index, name) in names.enumerated() {
            let metric = metrics[name]!
            let comma = index + 1 < names.count ? "," : ""
            lines.append("    \(jsonString(name)): { \"value\": \(jsonNumber(metric.value)), \"atol\": \(jsonNumber(metric.atol)), \"rtol\": \(jsonNumber(metric.rtol)) }\(comma)")
        }
        lines += ["  }", "}", ""]
        return lines.joined(separator: "\n")
    }

    /// Writes `encoded()` atomically.
    public func write(to path: String) throws {
        try writeAtomically(Data(encoded().utf8), to: path)
    }
}

/// One gated number and its tolerance: passes when |obtained − value| ≤ atol + rtol·|value|.
public struct BaselineMetric: Sendable, Equatable {
    public var value: Double
    public var atol: Double
    public var rtol: Double

    public init(value: Double, atol: Double, rtol: Double) {
        self.value = value
        self.atol = atol
        self.rtol = rtol
    }

    /// The allowed |obtained − value| (the `np.isclose` / llm.c `t_eff` rule).
    public var allowedDifference: Double { atol + rtol * Swift.abs(value) }

    /// False for NaN, whatever the tolerance: a NaN never equals a baseline.
    public func accepts(_ obtained: Double) -> Bool {
        obtained.isFinite && Swift.abs(obtained - value) <= allowedDifference
    }
}

/// Default tolerance for metrics a baseline has not seen before.
public struct Tolerance: Sendable, Equatable {
    public var atol: Double
    public var rtol: Double

    public init(atol: Double, rtol: Double) {
        self.atol = atol
        self.rtol = rtol
    }
}

/// Whether a metric name denotes a timing, which is never gated: timings depend on the machine
/// and its load, not on the code (STYLE.md §4, "Timings never go into CI baselines").
///
/// The rule, case-insensitive: the name ends in `_ms`, `_s`, `_seconds` or `_per_s`, or contains
/// `time` or `throughput`. So `step_ms`, `wall_s`, `tokens_per_s`, `train_time`, `throughput_tok`
/// are timings; `val_loss`, `speedup_model` are not. Name a metric accordingly.
public func isTimingMetric(_ name: String) -> Bool {
    // "step_ms.attention": a paper's part (variant, model) follows the first dot.
    let name = String(name.lowercased().split(separator: ".", maxSplits: 1).first ?? "")
    return ["_ms", "_s", "_seconds", "_per_s"].contains { name.hasSuffix($0) }
        || name.contains("time") || name.contains("throughput")
}

/// Builds a new baseline from a run's metrics, keeping each metric's tolerance from `previous`
/// (tolerances are hand-tuned; values are not) and giving new metrics `defaults`. Timings are
/// left out (`isTimingMetric`). A non-finite value is refused: blessing NaN would record a broken run.
public func bless(obtained: [String: Double], previous: Baseline?, defaults: Tolerance,
                  paper: String, preset: String) throws -> Baseline {
    var metrics: [String: BaselineMetric] = [:]
    for (name, value) in obtained where !isTimingMetric(name) {
        guard value.isFinite else {
            throw ValidationError(file: "\(paper) \(preset) run", item: "metric \"\(name)\"", field: "value",
                                  problem: "is \(formatNumber(value)); refusing to bless a non-finite value")
        }
        let tolerance = previous?.metrics[name].map { Tolerance(atol: $0.atol, rtol: $0.rtol) } ?? defaults
        metrics[name] = BaselineMetric(value: value, atol: tolerance.atol, rtol: tolerance.rtol)
    }
    return Baseline(paper: paper, preset: preset, metrics: metrics)
}

// MARK: - Checking

/// The outcome of `checkBaseline`: one row per baseline metric, plus what was not gated.
public struct BaselineCheck: Sendable, Equatable {
    public struct Row: Sendable, Equatable {
        public var metric: String
        /// Nil when the run did not produce the metric.
        public var obtained: Double?
        public var expected: BaselineMetric
        public var ok: Bool

        /// obtained − expected, signed; nil when missing.
        public var difference: Double? { obtained.map { $0 - expected.value } }
    }

    /// Baseline metrics, sorted by name.
    public var rows: [Row]
    /// Obtained metrics the baseline does not have; listed, never failing.
    public var extra: [String]

    public var passed: Bool { rows.allSatisfy(\.ok) }
    public var failures: [Row] { rows.filter { !$0.ok } }
    public var missing: [String] { rows.filter { $0.obtained == nil }.map(\.metric) }

    /// A fixed-width table for the terminal, ending with a PASS/FAIL line:
    ///
    ///     metric    obtained   expected   diff        tolerance  ok
    ///     val_loss  1.912345   1.91234    +5e-06      0.001912   ok
    public var table: String {
        var grid: [[String]] = [["metric", "obtained", "expected", "diff", "tolerance", "ok"]]
        for row in rows {
            grid.append([
                row.metric,
                row.obtained.map { tableNumber($0) } ?? "missing",
                tableNumber(row.expected.value),
                row.difference.map { ($0 >= 0 ? "+" : "") + String(format: "%.3g", $0) } ?? "-",
                String(format: "%.3g", row.expected.allowedDifference),
                row.ok ? "ok" : "FAIL",
            ])
        }
        let widths = (0..<6).map { column in grid.map { $0[column].count }.max()! }
        var lines = grid.map { cells in
            cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        lines.insert(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "), at: 1)
        if !extra.isEmpty {
            lines.append("")
            lines.append("not in the baseline (not gated): " + extra.joined(separator: ", "))
        }
        lines.append("")
        if passed {
            lines.append("PASS: \(rows.count) metric\(rows.count == 1 ? "" : "s") within tolerance")
        } else {
            let outside = failures.count - missing.count
            var problems: [String] = []
            if outside > 0 { problems.append("\(outside) outside tolerance") }
            if !missing.isEmpty { problems.append("\(missing.count) missing") }
            lines.append("FAIL: \(problems.joined(separator: ", ")) (of \(rows.count) metrics)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Compares a run's flat metrics with a baseline. Fails when a baseline metric is missing, NaN,
/// or outside atol + rtol·|expected|; obtained metrics absent from the baseline only get listed.
/// A timing metric that found its way into a baseline is not gated either.
public func checkBaseline(obtained: [String: Double], baseline: Baseline) -> BaselineCheck {
    let rows = baseline.metrics.keys.sorted().map { name -> BaselineCheck.Row in
        let expected = baseline.metrics[name]!
        let value = obtained[name]
        let ok = isTimingMetric(name) || (value.map(expected.accepts) ?? false)
        return BaselineCheck.Row(metric: name, obtained: value, expected: expected, ok: ok)
    }
    let extra = obtained.keys.filter { baseline.metrics[$0] == nil }.sorted()
    return BaselineCheck(rows: rows, extra: extra)
}

// MARK: - Metrics files

/// Reads a run's flat `metrics.json` (`{ "val_loss": 1.91, ... }`). `NaN`, `Infinity` and
/// `-Infinity` literals are accepted, as Python's `json` writes them: a diverged run must still be
/// checkable, and fail.
public func readMetrics(_ path: String) throws -> [String: Double] {
    let root = try readJSON5(path: path)
    guard case .object(let fields) = root else {
        throw ValidationError(file: path, problem: "expected an object of metric name → number, got \(root.kindDescription)")
    }
    var metrics: [String: Double] = [:]
    for (name, value) in fields {
        guard case .number(let number) = value else {
            throw ValidationError(file: path, item: "metric \"\(name)\"", problem: "expected a number, got \(value.kindDescription)")
        }
        metrics[name] = number
    }
    return metrics
}

/// Writes flat metrics, sorted by name, atomically; non-finite values as `NaN`/`Infinity`
/// (`JSONEncoder` would refuse them, losing exactly the run that needs looking at).
public func writeMetrics(_ metrics: [String: Double], to path: String) throws {
    let lines = metrics.keys.sorted().map { "  \(jsonString($0)): \(jsonNumber(metrics[$0]!))" }
    let text = lines.isEmpty ? "{}\n" : "{\n" + lines.joined(separator: ",\n") + "\n}\n"
    try writeAtomically(Data(text.utf8), to: path)
}

// MARK: - Private

private func parseBaseline(_ root: JSONValue, file: String) throws -> Baseline {
    let top = try ObjectReader(root, file: file, item: nil, path: nil)
    try top.rejectUnknownKeys(allowed: ["version", "paper", "preset", "metrics"])
    let version = try top.integer("version")
    guard version == Baseline.supportedVersion else {
        throw top.error("version", "unsupported version \(version) (this build reads version \(Baseline.supportedVersion))")
    }
    let paper = try top.string("paper")
    let preset = try top.string("preset")
    let list = try top.required("metrics")
    guard case .object(let entries) = list else {
        throw top.error("metrics", "expected an object of metric name → { value, atol, rtol }, got \(list.kindDescription)")
    }
    var metrics: [String: BaselineMetric] = [:]
    for name in entries.keys.sorted() {
        let fields = try ObjectReader(entries[name]!, file: file, item: "metric \"\(name)\"", path: nil)
        try fields.rejectUnknownKeys(allowed: ["value", "atol", "rtol"])
        if isTimingMetric(name) {
            throw ValidationError(file: file, item: "metric \"\(name)\"",
                                  problem: "is a timing (by its name); timings are never gated, remove it or rename the metric")
        }
        metrics[name] = BaselineMetric(value: try fields.number("value"), atol: try fields.nonNegativeNumber("atol"),
                                       rtol: try fields.nonNegativeNumber("rtol"))
    }
    return Baseline(version: version, paper: paper, preset: preset, metrics: metrics)
}

/// Enough digits to identify the value, and no more: the table is for reading.
private func tableNumber(_ value: Double) -> String {
    value.isFinite ? String(format: "%.7g", value) : formatNumber(value)
}

/// Shortest round-trip text; JSON5 literals for non-finite values.
private func jsonNumber(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value > 0 ? "Infinity" : "-Infinity" }
    return "\(value)"
}

private func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
