/// An 8-bit sRGB colour.
///
/// Usage: `RGB(68, 1, 84).hex == "#440154"`
public struct RGB: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var r: UInt8
    public var g: UInt8
    public var b: UInt8

    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    /// "#rrggbb", the form gnuplot and HTML take.
    public var hex: String {
        "#" + [r, g, b].map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    public var description: String { hex }
}

/// Maps a position in [0, 1] to a colour.
///
/// Usage: `Colormap.viridis.color(at: 0.5)`
public enum Colormap: Sendable, Equatable {
    /// Perceptually uniform dark-purple → yellow; for magnitudes (attention weights, norms).
    case viridis
    /// Blue → near-white → red; for signed data, with white meaning zero.
    case diverging
    /// Two colours split at the middle of the range; for masks and other two-valued maps.
    case binary

    /// The control points, first = lowest value. Colours between stops are linear blends.
    public var stops: [RGB] {
        switch self {
        case .viridis:
            // matplotlib's viridis sampled at 0, 0.1, ..., 1 (#440154 ... #fde725).
            return [RGB(68, 1, 84), RGB(72, 36, 117), RGB(65, 68, 135), RGB(53, 95, 141),
                    RGB(42, 120, 142), RGB(33, 145, 140), RGB(34, 168, 132), RGB(68, 191, 112),
                    RGB(122, 209, 81), RGB(189, 223, 38), RGB(253, 231, 37)]
        case .diverging:
            // ColorBrewer RdBu (7 classes), reversed so that low is blue.
            return [RGB(33, 102, 172), RGB(103, 169, 207), RGB(209, 229, 240), RGB(247, 247, 247),
                    RGB(253, 219, 199), RGB(239, 138, 98), RGB(178, 24, 43)]
        case .binary:
            return [RGB(247, 247, 247), RGB(37, 37, 37)]
        }
    }

    /// Magenta appears in none of the maps, so a NaN cell cannot pass for a value.
    public static let nanColor = RGB(255, 0, 255)

    /// The colour at `t`, clamped to [0, 1]; NaN gives `nanColor`.
    public func color(at t: Double) -> RGB {
        guard !t.isNaN else { return Self.nanColor }
        let t = min(max(t, 0), 1)
        let stops = self.stops
        if self == .binary { return t < 0.5 ? stops[0] : stops[1] }
        let position = t * Double(stops.count - 1)
        let i = min(Int(position), stops.count - 2)
        let f = position - Double(i)
        func blend(_ a: UInt8, _ b: UInt8) -> UInt8 {
            UInt8((Double(a) + (Double(b) - Double(a)) * f).rounded())
        }
        let a = stops[i], b = stops[i + 1]
        return RGB(blend(a.r, b.r), blend(a.g, b.g), blend(a.b, b.b))
    }

    /// The range used when a heatmap gives none: min...max of the finite values, except that
    /// `.diverging` is made symmetric about zero so white always means zero.
    /// No finite values gives 0...1.
    public func defaultRange(for values: [Double]) -> ClosedRange<Double> {
        var low = Double.infinity, high = -Double.infinity
        for v in values where v.isFinite {
            low = min(low, v)
            high = max(high, v)
        }
        guard low <= high else { return 0...1 }
        if self == .diverging {
            let m = max(abs(low), abs(high))
            return -m...m
        }
        return low...high
    }

    /// A gnuplot `set palette defined (...)` command matching `color(at:)`.
    var gnuplotPalette: String {
        let stops = self.stops
        let entries: [String]
        if self == .binary {
            // Repeating the middle position gives a hard step instead of a blend.
            entries = ["0 '\(stops[0].hex)'", "0.5 '\(stops[0].hex)'",
                       "0.5 '\(stops[1].hex)'", "1 '\(stops[1].hex)'"]
        } else {
            entries = stops.enumerated().map { i, c in
                "\(Double(i) / Double(stops.count - 1)) '\(c.hex)'"
            }
        }
        return "set palette defined (" + entries.joined(separator: ", ") + ")"
    }
}

/// Where `value` falls in `range`, as the [0, 1] position a colormap takes.
/// A zero-width range (constant matrix) maps everything to the middle instead of dividing by 0.
func unitPosition(_ value: Double, in range: ClosedRange<Double>) -> Double {
    guard !value.isNaN else { return .nan }
    let width = range.upperBound - range.lowerBound
    guard width > 0 else { return 0.5 }
    return min(max((value - range.lowerBound) / width, 0), 1)
}
