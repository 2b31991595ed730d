import TensorCore

/// Anything with parameters. Names follow PyTorch's `state_dict` keys of the reference model
/// (e.g. `transformer.h.0.attn.c_attn.weight`), so a checkpoint loads into the PyTorch model.
public protocol Module: AnyObject {
    /// Every parameter under its `state_dict` key. Tied parameters appear under each key
    /// (as in PyTorch's state_dict); `parameters()` removes the duplicates.
    func namedParameters() -> [(String, Tensor)]
}

extension Module {
    /// Distinct parameters, each under the first key that names it (PyTorch's `named_parameters`).
    public func uniqueNamedParameters() -> [(String, Tensor)] {
        var seen = Set<ObjectIdentifier>()
        return namedParameters().filter { seen.insert(ObjectIdentifier($0.1)).inserted }
    }

    public func parameters() -> [Tensor] { uniqueNamedParameters().map(\.1) }

    /// Total number of distinct parameter values.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    public func zeroGrad() { for p in parameters() { p.zeroGrad() } }

    /// Copy values in by key. Every key must be present with the same shape; extra keys are an error.
    public func loadStateDict(_ values: [String: (values: [Float], shape: [Int])]) throws {
        let named = namedParameters()
        let expected = Set(named.map(\.0))
        if let extra = values.keys.sorted().first(where: { !expected.contains($0) }) {
            throw StateDictError.unexpectedKey(extra)
        }
        // Validate everything first: a mismatch leaves the model untouched.
        for (name, p) in named {
            guard let v = values[name] else { throw StateDictError.missingKey(name) }
            guard v.shape == p.shape else { throw StateDictError.shapeMismatch(name, expected: p.shape, found: v.shape) }
        }
        for (name, p) in named { p.assign(values[name]!.values) }
    }
}

public enum StateDictError: Error, CustomStringConvertible, Equatable {
    case missingKey(String)
    case unexpectedKey(String)
    case shapeMismatch(String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case .missingKey(let k): return "parameter \(k) is missing"
        case .unexpectedKey(let k): return "unexpected parameter \(k) (the checkpoint is for another model)"
        case .shapeMismatch(let k, let e, let f): return "parameter \(k) has shape \(f), the model expects \(e)"
        }
    }
}

/// Prefix every key of `module` with `prefix.`.
public func named(_ prefix: String, _ module: Module) -> [(String, Tensor)] {
    module.namedParameters().map { ("\(prefix).\($0.0)", $0.1) }
}

/// A module mapping (B, T, C) to (B, T, C): attention or anything that replaces it.
public protocol SequenceLayer: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}
