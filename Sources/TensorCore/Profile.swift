import Dispatch

/// Wall-clock time per op, for finding where a training step goes (`bench train --profile`).
/// Off by default: then each op pays one untaken branch. When on, an op's forward time is the
/// time since the previous op (or `lap`) was recorded — so Swift glue between ops is charged to
/// the next op — and a backward rule's time is measured around the rule, including zeroing
/// the gradient buffers it creates. Single-threaded use only (one training loop at a time).
public enum OpProfile {
    nonisolated(unsafe) public static var isEnabled = false
    nonisolated(unsafe) private static var last: UInt64 = 0
    nonisolated(unsafe) private static var table: [String: (seconds: Double, calls: Int)] = [:]

    /// Start (or restart) counting from now, dropping what was recorded.
    public static func reset() {
        table = [:]
        last = DispatchTime.now().uptimeNanoseconds
    }

    /// Charge the time since the previous mark to `name` (e.g. "adamw" after an optimiser step).
    public static func lap(_ name: String) {
        guard isEnabled else { return }
        let t = DispatchTime.now().uptimeNanoseconds
        add(name, t &- last)
        last = t
    }

    static func add(_ name: String, _ nanoseconds: UInt64) {
        let e = table[name] ?? (0, 0)
        table[name] = (e.seconds + Double(nanoseconds) / 1e9, e.calls + 1)
    }

    /// Time `body` as `name` and move the mark past it.
    @inline(__always)
    static func measure(_ name: String, _ body: () -> Void) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        let t1 = DispatchTime.now().uptimeNanoseconds
        add(name, t1 &- t0)
        last = t1
    }

    /// (name, total seconds, calls), largest first.
    public static var entries: [(name: String, seconds: Double, calls: Int)] {
        table.map { ($0.key, $0.value.seconds, $0.value.calls) }.sorted { $0.seconds > $1.seconds }
    }
}
