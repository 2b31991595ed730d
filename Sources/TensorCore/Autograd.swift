import Foundation

/// Reverse-mode autograd. Each primitive op creates its output with `record`, giving its inputs
/// and a backward rule; `backward()` walks the graph in reverse topological order. Only the
/// primitives own rules; everything else is composed from them (see Ops/Composite.swift).
public enum Autograd {
    /// False inside `noGrad`: outputs then record nothing and hold no references to their inputs.
    /// Task-local, so concurrent tasks (tests run in parallel) each keep their own setting.
    @TaskLocal public static var isRecording = true
}

/// Evaluate without building a graph (evaluation, sampling, finite differences).
public func noGrad<T>(_ body: () throws -> T) rethrows -> T {
    try Autograd.$isRecording.withValue(false, operation: body)
}

extension Tensor {
    /// Make `self` the output of a primitive op: attach `rule` if any input needs a gradient
    /// and recording is on. The rule reads `out.grad` and adds into its inputs' `gradData()`.
    /// Papers use this to define their own fused primitives (then gradient-check them).
    @discardableResult
    public func record(_ name: String, _ inputs: [Tensor], _ rule: @escaping (Tensor) -> Void) -> Tensor {
        opName = name
        if OpProfile.isEnabled { OpProfile.lap(name) }
        if Autograd.isRecording && inputs.contains(where: { $0.requiresGrad }) {
            requiresGrad = true
            self.inputs = inputs
            backwardRule = rule
        }
        return self
    }

    /// The gradient buffer, allocated zeroed on first use; backward rules add into it.
    public func gradData() -> UnsafeMutablePointer<Float> {
        if grad == nil { grad = Tensor.zeros(shape) }
        return grad!.data
    }

    /// The gradient buffer for a rule that writes every element of it: when no gradient exists
    /// yet, it is allocated uninitialised and `accumulate` is false, and the rule must store
    /// (=) rather than add (+=) — saving a zero fill and a re-read of the buffer per op.
    public func gradBuffer() -> (data: UnsafeMutablePointer<Float>, accumulate: Bool) {
        if let grad { return (grad.data, true) }
        let g = Tensor.empty(shape)
        grad = g
        return (g.data, false)
    }

    /// Set all gradients of this tensor to zero (or drop them).
    public func zeroGrad() { grad = nil }

    /// Backpropagate from this scalar: gradients accumulate (+=) into every tensor that
    /// requires one, so calling it on several losses sums their gradients.
    public func backward() {
        precondition(count == 1, "backward() starts from a scalar; shape is \(shape)")
        backward(seed: [1])
    }

    /// Backpropagate with an explicit output gradient `seed` (same count as `self`).
    public func backward(seed: [Float]) {
        precondition(seed.count == count, "seed has \(seed.count) values for shape \(shape)")
        guard requiresGrad else { return }
        let g = gradData()
        for i in 0..<count { g[i] += seed[i] }
        // Iterative DFS: a deep graph must not overflow the stack.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            if !visited.insert(ObjectIdentifier(t)).inserted { continue }
            stack.append((t, true))
            for p in t.inputs where p.requiresGrad && !visited.contains(ObjectIdentifier(p)) {
                stack.append((p, false))
            }
        }
        for t in order.reversed() {
            guard let rule = t.backwardRule, t.grad != nil else { continue }
            if OpProfile.isEnabled { OpProfile.measure("∂" + t.opName, { rule(t) }) } else { rule(t) }
        }
    }

    /// Drop the graph behind this tensor (keeps values and its own grad).
    public func detachGraph() { inputs = []; backwardRule = nil }
}
