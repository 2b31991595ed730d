import Foundation

/// A matrix drawn straight to a PNG, one flat-coloured block per cell, with a colour bar on
/// the right labelled with its minimum, middle and maximum. Needs neither gnuplot nor fonts.
///
/// For a heatmap with axes and tick labels use `HeatmapFigure`, which goes through gnuplot.
///
/// Usage:
/// ```swift
/// try Heatmap(values: attention, rows: 8, cols: 8, title: "layer 0 head 3").writePNG(to: "attn.png")
/// ```
public struct Heatmap: Sendable, Equatable {
    /// Row-major: `values[r * cols + c]`; row 0 is drawn at the top.
    public var values: [Double]
    public var rows: Int
    public var cols: Int
    /// Drawn upper-case in the built-in 5×7 font.
    public var title: String?
    public var colormap: Colormap
    /// Values mapped to the ends of the colormap (others are clamped); nil uses
    /// `colormap.defaultRange(for: values)`: min...max, symmetric about 0 for `.diverging`.
    public var range: ClosedRange<Double>?
    /// Pixels per cell side; nil picks one that makes the matrix about 600 px on its long side.
    public var cellSize: Int?

    public init(values: [Double], rows: Int, cols: Int, title: String? = nil,
                colormap: Colormap = .viridis, range: ClosedRange<Double>? = nil, cellSize: Int? = nil) {
        self.values = values
        self.rows = rows
        self.cols = cols
        self.title = title
        self.colormap = colormap
        self.range = range
        self.cellSize = cellSize
    }

    /// Builds the heatmap from nested rows, which must all have the same length.
    ///
    /// Usage: `try Heatmap(matrix: [[0, 1], [2, 3]], title: "demo")`
    public init(matrix: [[Double]], title: String? = nil, colormap: Colormap = .viridis,
                range: ClosedRange<Double>? = nil, cellSize: Int? = nil) throws {
        let cols = matrix.first?.count ?? 0
        guard matrix.allSatisfy({ $0.count == cols }) else {
            throw PlotError.invalidInput("heatmap rows have different lengths")
        }
        self.init(values: matrix.flatMap { $0 }, rows: matrix.count, cols: cols, title: title,
                  colormap: colormap, range: range, cellSize: cellSize)
    }

    /// The value range the colours span: `range`, or the colormap's default for these values.
    public var effectiveRange: ClosedRange<Double> { range ?? colormap.defaultRange(for: values) }

    /// Draws the heatmap and writes it as an RGB PNG (atomically, creating the folder).
    ///
    /// NaN cells are magenta (`Colormap.nanColor`); ±infinity takes the colour of the nearer end.
    ///
    /// Usage: `try heatmap.writePNG(to: "figures/attn.png")`
    public func writePNG(to path: String) throws {
        let image = try rasterize()
        try Plots.writePNG(path: path, width: image.width, height: image.height, rgb: image.rgb)
    }

    /// The finished picture as RGB bytes, top row first, for callers that compose images.
    ///
    /// Usage: `let (w, h, rgb) = try heatmap.rasterize()`
    public func rasterize() throws -> (width: Int, height: Int, rgb: [UInt8]) {
        let canvas = try draw()
        return (canvas.width, canvas.height, canvas.pixels)
    }

    // MARK: - Drawing

    static let background = RGB(255, 255, 255)
    static let ink = RGB(34, 34, 34)
    static let frameColor = RGB(85, 85, 85)

    /// Where everything goes; kept apart from drawing so tests can find a cell's centre.
    struct Layout {
        static let textScale = 2
        static let margin = 16
        static let barGap = 20
        static let barWidth = 24
        static let tickLength = 5
        static let minimumBarHeight = 160

        let cell: Int
        let mapX: Int, mapY: Int, mapWidth: Int, mapHeight: Int
        let barX: Int, barY: Int, barHeight: Int
        let labelX: Int
        let titleY: Int
        let width: Int, height: Int

        var textHeight: Int { BitmapFont.glyphHeight * Self.textScale }

        func cellCenter(row: Int, col: Int) -> (x: Int, y: Int) {
            (mapX + col * cell + cell / 2, mapY + row * cell + cell / 2)
        }

        /// The y of the tick for position t (0 = bottom of the bar, 1 = top).
        func tickY(_ t: Double) -> Int {
            barY + Int(((1 - t) * Double(barHeight - 1)).rounded())
        }
    }

    func layout(labels: [String]) -> Layout {
        let cell = cellSize ?? max(1, Int((600.0 / Double(max(rows, cols, 1))).rounded()))
        let textHeight = BitmapFont.glyphHeight * Layout.textScale
        let titleBlock = (title?.isEmpty ?? true) ? 0 : textHeight + 12
        let mapX = Layout.margin + 1
        let mapY = Layout.margin + titleBlock + 1
        let mapWidth = cols * cell, mapHeight = rows * cell
        let barX = mapX + mapWidth + 1 + Layout.barGap + 1
        let barHeight = max(mapHeight, Layout.minimumBarHeight)
        let labelX = barX + Layout.barWidth + 1 + Layout.tickLength + 4
        let labelWidth = labels.map { BitmapFont.width(of: $0, scale: Layout.textScale) }.max() ?? 0
        let titleWidth = BitmapFont.width(of: title ?? "", scale: Layout.textScale)
        let width = max(labelX + labelWidth + Layout.margin, Layout.margin * 2 + titleWidth)
        let height = mapY + barHeight + 1 + Layout.margin
        return Layout(cell: cell, mapX: mapX, mapY: mapY, mapWidth: mapWidth, mapHeight: mapHeight,
                      barX: barX, barY: mapY, barHeight: barHeight, labelX: labelX,
                      titleY: Layout.margin, width: width, height: height)
    }

    /// The colour-bar labels, top to bottom: max, middle, min.
    func barLabels() -> [String] {
        let r = effectiveRange
        return [r.upperBound, (r.lowerBound + r.upperBound) / 2, r.lowerBound].map(shortNumber)
    }

    func draw() throws -> Canvas {
        try validate()
        let labels = barLabels()
        let layout = layout(labels: labels)
        // A too-large cellSize on a big matrix would otherwise ask for gigabytes.
        guard layout.width * layout.height <= 64_000_000 else {
            throw PlotError.invalidInput("heatmap would be \(layout.width)x\(layout.height) px; use a smaller cellSize")
        }
        var canvas = Canvas(width: layout.width, height: layout.height, background: Self.background)
        let range = effectiveRange

        if let title, !title.isEmpty {
            canvas.text(title, x: Layout.margin, y: layout.titleY, scale: Layout.textScale, Self.ink)
        }

        for r in 0..<rows {
            for c in 0..<cols {
                let value = values[r * cols + c]
                let color = colormap.color(at: unitPosition(value, in: range))
                canvas.fill(x: layout.mapX + c * layout.cell, y: layout.mapY + r * layout.cell,
                            width: layout.cell, height: layout.cell, color)
            }
        }
        canvas.frame(x: layout.mapX, y: layout.mapY, width: layout.mapWidth, height: layout.mapHeight,
                     Self.frameColor)

        // The bar runs from the range's max at the top to its min at the bottom.
        for py in 0..<layout.barHeight {
            let t = 1 - (Double(py) + 0.5) / Double(layout.barHeight)
            canvas.fill(x: layout.barX, y: layout.barY + py, width: Layout.barWidth, height: 1,
                        colormap.color(at: t))
        }
        canvas.frame(x: layout.barX, y: layout.barY, width: Layout.barWidth, height: layout.barHeight,
                     Self.frameColor)

        for (label, t) in zip(labels, [1.0, 0.5, 0.0]) {
            let y = layout.tickY(t)
            canvas.fill(x: layout.barX + Layout.barWidth + 1, y: y, width: Layout.tickLength, height: 1,
                        Self.frameColor)
            let top = min(max(y - layout.textHeight / 2, 0), layout.height - layout.textHeight)
            canvas.text(label, x: layout.labelX, y: top, scale: Layout.textScale, Self.ink)
        }
        return canvas
    }

    private func validate() throws {
        guard rows > 0, cols > 0 else {
            throw PlotError.invalidInput("heatmap needs at least one row and column, got \(rows)x\(cols)")
        }
        guard values.count == rows * cols else {
            throw PlotError.invalidInput("heatmap \(rows)x\(cols) needs \(rows * cols) values, got \(values.count)")
        }
        if let cellSize, cellSize < 1 {
            throw PlotError.invalidInput("heatmap cellSize must be at least 1, got \(cellSize)")
        }
        if let range, !(range.lowerBound.isFinite && range.upperBound.isFinite) {
            throw PlotError.invalidInput("heatmap range must be finite, got \(range)")
        }
    }
}
