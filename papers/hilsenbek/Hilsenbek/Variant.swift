// The seven models of issue 4: nanoGPT and six placements of the generative function. Shared by
// papers/hilsenbek/main.swift, bench (workload 4) and the tests.

import Replicate

/// The variants, in its order (1 ... 7). The raw value is the metric suffix
/// (`val_loss_best.<variant>`) and the folder name under `seed-<s>/`.
public enum Variant: String, CaseIterable, Codable, Sendable {
    case attention
    case min
    case max
    case mean
    case maxContext = "max_context"
    case maxPrefixContext = "max_prefix_context"
    case mlpMin = "mlp_min"

    public var number: Int { Variant.allCases.firstIndex(of: self)! + 1 }

    /// Whether the model still attends (nanoGPT's FLOPs estimate counts attention only then).
    public var attends: Bool {
        if case .attention = placement { return false }
        return true
    }

    public var placement: GenerativeFunctionPlacement {
        switch self {
        case .attention: return .none
        case .min: return .attention(.min, .none)
        case .max: return .attention(.max, .none)
        case .mean: return .attention(.mean, .none)
        case .maxContext: return .attention(.max, .sequenceMean)
        case .maxPrefixContext: return .attention(.max, .prefixMean)
        case .mlpMin: return .activation(.min)
        }
    }

    /// The reduction inside the MLP (variant B), which `causalReductionActivations` cannot see.
    public var mlpReduction: CausalReduction? {
        if case .activation(let kind) = placement { return kind }
        return nil
    }

    public var about: String {
        switch self {
        case .attention: return "nanoGPT baseline: causal self-attention"
        case .min: return "attention → c_proj(min(h_t, h_{t−1})) (the author's main variant)"
        case .max: return "attention → c_proj(max(h_t, h_{t−1}))"
        case .mean: return "attention → c_proj((h_t + h_{t−1})/2) (the intended math; the author's code is broken)"
        case .maxContext: return "attention → c_proj(max(h_t, h_{t−1}, mean over the whole sequence)) (as published: sees the future)"
        case .maxPrefixContext: return "attention → c_proj(max(h_t, h_{t−1}, mean over positions ≤ t)) (causal context)"
        case .mlpMin: return "attention kept, MLP's GELU → min(u_t, u_{t−1}) along time"
        }
    }

    public static func parse(_ names: [String]) throws -> [Variant] {
        try names.map { name in
            guard let v = Variant(rawValue: name) else {
                throw ReplicateError("unknown variant \"\(name)\"; variants: \(Variant.allCases.map(\.rawValue).joined(separator: ","))")
            }
            return v
        }
    }
}
