import Foundation

/// A matrix drawn by gnuplot with axes, tick labels and a labelled colour box, kept as
/// `<name>.png` + `<name>.gp` + `<name>.dat` like `Figure`. Uses the same colormaps and
/// default range as `Heatmap`; NaN cells show as magenta.
///
/// Usage:
/// ```swift
/// try HeatmapFigure(values: attn, rows: 6, cols: 6, title: "attention", xLabel: "key",
///                   yLabel: "query", xTickLabels: tokens, yTickLabels: tokens)
///     .render(to: "figures/attn.png")
/// ```
public struct HeatmapFigure: Sendable, Equatable {
    /// Row-major: `values[r * cols + c]`; row 0 is drawn at the top, as in a printed matrix.
    public var values: [Double]
    public var rows: Int
    public var cols: Int
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var colormap: Colormap
    /// nil: `colormap.defaultRange(for: values)`, as for `Heatmap`.
    public var range: ClosedRange<Double>?
    /// Names for the columns (x axis) and rows (y axis), e.g. tokens; nil shows indices.
    public var xTickLabels: [String]?
    public var yTickLabels: [String]?
    /// Keep cells square (the plot takes the matrix's aspect ratio).
    public var squareCells: Bool
    public var size: PixelSize

    public init(values: [Double], rows: Int, cols: Int, title: String = "", xLabel: String = "",
                yLabel: String = "", colormap: Colormap = .viridis, range: ClosedRange<Double>? = nil,
                xTickLabels: [String]? = nil, yTickLabels: [String]? = nil,
                squareCells: Bool = true, size: PixelSize = PixelSize(width: 800, height: 650)) {
        self.values = values
        self.rows = rows
        self.cols = cols
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.colormap = colormap
        self.range = range
        self.xTickLabels = xTickLabels
        self.yTickLabels = yTickLabels
        self.squareCells = squareCells
        self.size = size
    }

    /// Writes `<name>.dat` (the matrix, one line per row) and `<name>.gp` beside `pngPath`,
    /// then runs gnuplot there; errors as for `Figure.render(to:)`.
    ///
    /// Usage: `try heat.render(to: "figures/attn.png")`
    @discardableResult
    public func render(to pngPath: String) throws -> RenderedFigure {
        let files = try FigureFiles(pngPath: pngPath)
        let built = try gnuplotInput(files: files)
        return try Gnuplot.render(files: files, script: built.script, data: built.data,
                                  warnings: built.warnings)
    }

    func gnuplotInput(files: FigureFiles) throws -> (script: String, data: String, warnings: [String]) {
        try validate()
        var warnings = [String]()
        let nonFinite = values.filter { !$0.isFinite }.count
        if nonFinite > 0 {
            warnings.append("\(nonFinite) non-finite cell(s); NaN shows magenta, ±inf the nearer end")
        }

        var colorRange = effectiveRange
        if colorRange.lowerBound == colorRange.upperBound {
            // gnuplot refuses an empty colour range; widening it keeps the constant in the middle,
            // the colour Heatmap gives a constant matrix.
            colorRange = (colorRange.lowerBound - 0.5)...(colorRange.upperBound + 0.5)
        }

        var data = """
            # Data for \(files.pngName), drawn by \(files.scriptName) (Replicate Plots).
            # Matrix \(rows) rows x \(cols) cols: line r holds row r (row 0 first, drawn at the
            # top), field c holds column c. gnuplot reads it with `matrix`. NaN = missing;
            # +-infinity is written as the colour range's end.

            """
        for r in 0..<rows {
            data += (0..<cols).map { c -> String in
                let v = values[r * cols + c]
                // gnuplot reads no infinity; the range end gives the cell the same colour.
                if v.isNaN { return "NaN" }
                if v.isInfinite { return Gnuplot.number(v > 0 ? colorRange.upperBound : colorRange.lowerBound) }
                return Gnuplot.number(v)
            }.joined(separator: " ") + "\n"
        }

        var script = """
            # \(files.pngName): \(title.isEmpty ? "(untitled heatmap)" : title.replacingOccurrences(of: "\n", with: " "))
            # Written by Replicate's Plots module. Redraw from this folder with:
            #   gnuplot \(files.scriptName)
            # Numbers come from \(files.dataName), read by relative path.

            """
        for warning in warnings { script += "# warning: \(warning)\n" }
        script += "\n" + Gnuplot.preamble(files: files, width: size.width, height: size.height)
        if !title.isEmpty { script += "set title \(Gnuplot.quote(title)) font ',13'\n" }
        if !xLabel.isEmpty { script += "set xlabel \(Gnuplot.quote(xLabel))\n" }
        if !yLabel.isEmpty { script += "set ylabel \(Gnuplot.quote(yLabel))\n" }

        script += """
            \(colormap.gnuplotPalette)
            set cbrange [\(Gnuplot.number(colorRange.lowerBound)):\(Gnuplot.number(colorRange.upperBound))]
            set xrange [-0.5:\(Gnuplot.number(Double(cols) - 0.5))]
            set yrange [\(Gnuplot.number(Double(rows) - 0.5)):-0.5]
            set tics out nomirror scale 0.5
            set cbtics out
            set border lw 1 lc rgb '#555555'
            # NaN cells are left undrawn; this backdrop makes them magenta, as in Heatmap.
            set object 1 rectangle from graph 0,0 to graph 1,1 behind fillcolor rgb '\(Colormap.nanColor.hex)' fillstyle solid noborder

            """
        if squareCells { script += "set size ratio -1\n" }
        script += ticCommand(axis: "x", labels: xTickLabels, count: cols)
        script += ticCommand(axis: "y", labels: yTickLabels, count: rows)

        let source = Gnuplot.quote(files.dataName)
        // `with image` needs at least a 2x2 grid; boxes draw any shape, just more slowly.
        let plot = rows >= 2 && cols >= 2
            ? "\(source) matrix with image notitle"
            : "\(source) matrix using 1:2:(0.5):(0.5):3 with boxxyerror fillstyle solid noborder fillcolor palette notitle"
        script += "\nplot \(plot)\n\nunset output\n"
        return (script, data, warnings)
    }

    public var effectiveRange: ClosedRange<Double> { range ?? colormap.defaultRange(for: values) }

    private func ticCommand(axis: String, labels: [String]?, count: Int) -> String {
        if let labels {
            let rotate = axis == "x" && (labels.count > 8 || labels.contains { $0.count > 3 })
            let entries = labels.prefix(count).enumerated().map { "\(Gnuplot.quote($1)) \($0)" }
            return "set \(axis)tics (\(entries.joined(separator: ", ")))"
                + (rotate ? " rotate by 60 right" : "") + "\n"
        }
        // Whole-number steps only: a tick at 0.5 would name no row.
        let target = max(Double(count) / 8, 1)
        let magnitude = pow(10, floor(log10(target)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= target } ?? 10 * magnitude
        return "set \(axis)tics 0, \(Int(step))\n"
    }

    private func validate() throws {
        guard rows > 0, cols > 0 else {
            throw PlotError.invalidInput("heatmap needs at least one row and column, got \(rows)x\(cols)")
        }
        guard values.count == rows * cols else {
            throw PlotError.invalidInput("heatmap \(rows)x\(cols) needs \(rows * cols) values, got \(values.count)")
        }
        if let xTickLabels, xTickLabels.count != cols {
            throw PlotError.invalidInput("xTickLabels has \(xTickLabels.count) names for \(cols) columns")
        }
        if let yTickLabels, yTickLabels.count != rows {
            throw PlotError.invalidInput("yTickLabels has \(yTickLabels.count) names for \(rows) rows")
        }
        if let range, !(range.lowerBound.isFinite && range.upperBound.isFinite) {
            throw PlotError.invalidInput("heatmap range must be finite, got \(range)")
        }
        guard size.width > 0, size.height > 0 else {
            throw PlotError.invalidInput("figure size must be positive, got \(size.width)x\(size.height)")
        }
    }
}
