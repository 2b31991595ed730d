import Foundation

/// Image size in pixels.
///
/// Usage: `Figure(title: "loss", size: PixelSize(width: 1000, height: 600))`
public struct PixelSize: Sendable, Equatable {
    public var width: Int
    public var height: Int

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    /// 800×500: readable in a README at full width and in a side-by-side pair.
    public static let standard = PixelSize(width: 800, height: 500)
}

/// One measured curve, optionally with a spread (over seeds) around it.
///
/// Usage: `Series(name: "ours (3 seeds)", x: steps, y: mean, yLow: lo, yHigh: hi)`
public struct Series: Sendable, Equatable {
    public enum Style: Sendable, Equatable {
        case line
        case points
        case linesPoints
    }

    /// How `yLow`/`yHigh` are drawn.
    public enum Spread: Sendable, Equatable {
        /// A translucent band in the series' colour; best for dense curves.
        case band
        /// Vertical error bars; best for a few points.
        case errorBars
    }

    public var name: String
    public var x: [Double]
    public var y: [Double]
    /// Lower edge of the spread, same length as `y`; give both `yLow` and `yHigh` or neither.
    public var yLow: [Double]?
    /// Upper edge of the spread, same length as `y`.
    public var yHigh: [Double]?
    public var style: Style
    public var spread: Spread
    /// A gnuplot colour such as "#D55E00"; nil takes the next one of a colour-blind-safe palette.
    public var color: String?

    public init(name: String, x: [Double], y: [Double], yLow: [Double]? = nil, yHigh: [Double]? = nil,
                style: Style = .line, spread: Spread = .band, color: String? = nil) {
        self.name = name
        self.x = x
        self.y = y
        self.yLow = yLow
        self.yHigh = yHigh
        self.style = style
        self.spread = spread
        self.color = color
    }

    /// How `overSeeds` turns several runs into a spread.
    public enum SeedSpread: Sendable, Equatable {
        /// The band spans the lowest and highest run at each x.
        case minMax
        /// The band spans mean ± one sample standard deviation.
        case standardDeviation
    }

    /// The mean of several runs (one array per seed, each as long as `x`) with their spread.
    ///
    /// Non-finite values are left out of the mean at that x, so one diverged seed does not
    /// blank the whole curve; an x where no run is finite becomes a gap.
    ///
    /// Usage: `Series.overSeeds(name: "ours", x: steps, runs: [seed0, seed1, seed2])`
    public static func overSeeds(name: String, x: [Double], runs: [[Double]],
                                 spread: SeedSpread = .minMax, style: Style = .line,
                                 color: String? = nil) -> Series {
        var mean = [Double](), low = [Double](), high = [Double]()
        for i in x.indices {
            let values = runs.compactMap { i < $0.count ? $0[i] : nil }.filter(\.isFinite)
            guard !values.isEmpty else {
                mean.append(.nan); low.append(.nan); high.append(.nan)
                continue
            }
            let m = values.reduce(0, +) / Double(values.count)
            mean.append(m)
            switch spread {
            case .minMax:
                low.append(values.min()!)
                high.append(values.max()!)
            case .standardDeviation:
                let variance = values.count > 1
                    ? values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1) : 0
                low.append(m - variance.squareRoot())
                high.append(m + variance.squareRoot())
            }
        }
        return Series(name: name, x: x, y: mean, yLow: low, yHigh: high, style: style, color: color)
    }
}

/// A number the paper reports, drawn as a large open marker with its label beside it.
///
/// Usage: `ReportedPoint(x: 5000, y: 1.88)` (labelled "paper: 1.88")
public struct ReportedPoint: Sendable, Equatable {
    public var label: String
    public var x: Double
    public var y: Double

    /// `label` defaults to "paper: <y>".
    public init(x: Double, y: Double, label: String? = nil) {
        self.x = x
        self.y = y
        self.label = label ?? "paper: \(shortNumber(y))"
    }
}

/// A dashed horizontal line across the whole plot, named in the legend.
///
/// Usage: `ReferenceLine(label: "nanoGPT: 1.88", y: 1.88)`
public struct ReferenceLine: Sendable, Equatable {
    public var label: String
    public var y: Double
    /// A gnuplot colour; nil uses dark grey, so the line reads as a reference, not as data.
    public var color: String?

    public init(label: String, y: Double, color: String? = nil) {
        self.label = label
        self.y = y
        self.color = color
    }
}

/// Where the legend goes.
public enum Legend: Sendable, Equatable {
    case topRight, topLeft, bottomRight, bottomLeft
    /// To the right of the plot, which shrinks to make room; for many series.
    case outsideRight
    case hidden
}

/// A line, scatter or log-log figure drawn by gnuplot: our measured curves with the paper's
/// reported numbers on top.
///
/// `render(to: "figures/loss.png")` leaves `loss.png`, `loss.gp` (a standalone script) and
/// `loss.dat` (the numbers) side by side, so `cd figures && gnuplot loss.gp` redraws it.
///
/// Usage:
/// ```swift
/// let fig = Figure(title: "Shakespeare char, val loss", xLabel: "step", yLabel: "loss",
///                  series: [Series(name: "ours", x: steps, y: loss)],
///                  reported: [ReportedPoint(x: 5000, y: 1.88)],
///                  hLines: [ReferenceLine(label: "nanoGPT: 1.88", y: 1.88)])
/// try fig.render(to: "figures/loss.png")
/// ```
public struct Figure: Sendable, Equatable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var logX: Bool
    public var logY: Bool
    public var series: [Series]
    public var reported: [ReportedPoint]
    public var hLines: [ReferenceLine]
    public var size: PixelSize
    /// Fixed axis ranges; nil lets gnuplot fit the data (reported points and lines included).
    public var xRange: ClosedRange<Double>?
    public var yRange: ClosedRange<Double>?
    public var legend: Legend

    public init(title: String = "", xLabel: String = "", yLabel: String = "",
                logX: Bool = false, logY: Bool = false,
                series: [Series] = [], reported: [ReportedPoint] = [], hLines: [ReferenceLine] = [],
                size: PixelSize = .standard,
                xRange: ClosedRange<Double>? = nil, yRange: ClosedRange<Double>? = nil,
                legend: Legend = .topRight) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.logX = logX
        self.logY = logY
        self.series = series
        self.reported = reported
        self.hLines = hLines
        self.size = size
        self.xRange = xRange
        self.yRange = yRange
        self.legend = legend
    }

    /// Writes `<name>.dat` and `<name>.gp` beside `pngPath`, runs gnuplot in that folder and
    /// moves the finished PNG into place atomically.
    ///
    /// Non-finite values, and values ≤ 0 on a log axis, are left out (a gap in the line) and
    /// reported in `warnings`. A figure with nothing left to draw renders an empty frame
    /// saying "no data" rather than failing, so a run's other figures still get written.
    ///
    /// Throws `PlotError.gnuplotNotFound` (the .gp and .dat are written first),
    /// `.gnuplotFailed` with gnuplot's message, or `.invalidInput` for mismatched lengths.
    ///
    /// Usage: `try fig.render(to: "figures/loss.png")`
    @discardableResult
    public func render(to pngPath: String) throws -> RenderedFigure {
        let files = try FigureFiles(pngPath: pngPath)
        let built = try gnuplotInput(files: files)
        return try Gnuplot.render(files: files, script: built.script, data: built.data,
                                  warnings: built.warnings)
    }

    // MARK: - Script and data

    /// Okabe–Ito colours (black kept back for the paper's points): distinct for colour-blind
    /// readers and in greyscale print.
    static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                          "#8C564B", "#F0E442"]
    static let reportedColor = "#000000"
    static let referenceColors = ["#444444", "#8C564B", "#7F7F7F"]

    func gnuplotInput(files: FigureFiles) throws -> (script: String, data: String, warnings: [String]) {
        try validate()
        var warnings = [String]()
        var data = """
            # Data for \(files.pngName), drawn by \(files.scriptName) (Replicate Plots).
            # One block per plotted series, then the paper's reported points; gnuplot picks a
            # block with `index N`. Non-finite values and values <= 0 on a log axis are left
            # out; a blank line marks the gap. NaN in y_low/y_high means no spread at that x.

            """
        var blockCount = 0
        var bands = [String](), curves = [String]()
        var xExtent = Extent()

        func usable(_ x: Double, _ y: Double) -> Bool {
            x.isFinite && y.isFinite && !(logX && x <= 0) && !(logY && y <= 0)
        }
        func dropNote(_ what: String, nonFinite: Int, nonPositive: Int) {
            if nonFinite > 0 { warnings.append("\(what): dropped \(nonFinite) non-finite point(s)") }
            if nonPositive > 0 {
                warnings.append("\(what): dropped \(nonPositive) point(s) <= 0 on a log axis")
            }
        }

        let dataFile = Gnuplot.quote(files.dataName)
        for (number, series) in series.enumerated() {
            let what = "series \(number) \(Gnuplot.quote(series.name))"
            let hasSpread = series.yLow != nil
            var rows = [String]()
            var gapPending = false
            var nonFinite = 0, nonPositive = 0, spreadDropped = 0
            for i in series.x.indices {
                let x = series.x[i], y = series.y[i]
                guard usable(x, y) else {
                    if x.isFinite && y.isFinite { nonPositive += 1 } else { nonFinite += 1 }
                    gapPending = !rows.isEmpty
                    continue
                }
                // A single blank line breaks the curve; two would start a new gnuplot block,
                // so consecutive gaps collapse into one and there is none at either end.
                if gapPending { rows.append(""); gapPending = false }
                var row = Gnuplot.number(x) + " " + Gnuplot.number(y)
                if hasSpread, let lows = series.yLow, let highs = series.yHigh {
                    let low = lows[i], high = highs[i]
                    if low.isFinite && high.isFinite && !(logY && low <= 0) {
                        row += " " + Gnuplot.number(low) + " " + Gnuplot.number(high)
                    } else {
                        row += " NaN NaN"
                        spreadDropped += 1
                    }
                }
                rows.append(row)
                xExtent.add(x, log: logX)
            }
            dropNote(what, nonFinite: nonFinite, nonPositive: nonPositive)
            if spreadDropped > 0 {
                warnings.append("\(what): no spread drawn at \(spreadDropped) point(s) "
                                + "(non-finite, or low edge <= 0 on a log axis)")
            }
            guard !rows.isEmpty else {
                warnings.append("\(what): no plottable points; left out of the plot")
                continue
            }

            let index = blockCount
            blockCount += 1
            data += blockSeparator(index) + "# index \(index): series \(number): \(series.name.replacingOccurrences(of: "\n", with: " "))\n"
            data += hasSpread ? "# x y y_low y_high\n" : "# x y\n"
            data += rows.joined(separator: "\n") + "\n"

            let color = Gnuplot.quote(series.color ?? Self.palette[number % Self.palette.count])
            let source = "\(dataFile) index \(index)"
            if hasSpread {
                switch series.spread {
                case .band:
                    bands.append("\(source) using 1:3:4 with filledcurves lc rgb \(color) notitle")
                case .errorBars:
                    curves.append("\(source) using 1:2:3:4 with yerrorbars lc rgb \(color) "
                                  + "lw 1.2 pt -1 notitle")
                }
            }
            let look: String
            switch series.style {
            case .line: look = "with lines lw 2"
            case .points: look = "with points pt 7 ps 0.9"
            case .linesPoints: look = "with linespoints lw 2 pt 7 ps 0.8"
            }
            curves.append("\(source) using 1:2 \(look) lc rgb \(color) title \(Gnuplot.quote(series.name))")
        }

        // The paper's numbers: data in the .dat (so they can be checked), text as labels.
        var reportedRows = [String](), reportedLabels = [ReportedPoint]()
        var reportedNonFinite = 0, reportedNonPositive = 0
        for point in reported {
            guard usable(point.x, point.y) else {
                if point.x.isFinite && point.y.isFinite { reportedNonPositive += 1 } else { reportedNonFinite += 1 }
                continue
            }
            reportedRows.append(Gnuplot.number(point.x) + " " + Gnuplot.number(point.y))
            reportedLabels.append(point)
            xExtent.add(point.x, log: logX)
        }
        dropNote("reported points", nonFinite: reportedNonFinite, nonPositive: reportedNonPositive)
        var reportedPlot: String?
        if !reportedRows.isEmpty {
            let index = blockCount
            blockCount += 1
            data += blockSeparator(index) + "# index \(index): reported by the paper\n# x y\n"
            data += reportedRows.joined(separator: "\n") + "\n"
            reportedPlot = "\(dataFile) index \(index) using 1:2 with points pt 6 ps 2.4 lw 2.2 "
                + "lc rgb \(Gnuplot.quote(Self.reportedColor)) title 'reported (paper)'"
        }

        var references = [String]()
        for (number, line) in hLines.enumerated() {
            guard line.y.isFinite, !(logY && line.y <= 0) else {
                warnings.append("reference line \(Gnuplot.quote(line.label)): y = \(shortNumber(line.y)) "
                                + "cannot be drawn\(logY ? " on a log axis" : ""); left out")
                continue
            }
            let color = line.color ?? Self.referenceColors[number % Self.referenceColors.count]
            let title = line.label.isEmpty ? shortNumber(line.y) : line.label
            references.append("\(Gnuplot.number(line.y)) with lines dt (8,5) lw 1.8 "
                              + "lc rgb \(Gnuplot.quote(color)) title \(Gnuplot.quote(title))")
        }

        // MARK: script
        var script = """
            # \(files.pngName): \(title.isEmpty ? "(untitled)" : title.replacingOccurrences(of: "\n", with: " "))
            # Written by Replicate's Plots module. Redraw from this folder with:
            #   gnuplot \(files.scriptName)
            # Numbers come from \(files.dataName), read by relative path.

            """
        for warning in warnings {
            script += "# warning: \(warning.replacingOccurrences(of: "\n", with: " "))\n"
        }
        script += "\n" + Gnuplot.preamble(files: files, width: size.width, height: size.height)
        if !title.isEmpty { script += "set title \(Gnuplot.quote(title)) font ',13'\n" }
        if !xLabel.isEmpty { script += "set xlabel \(Gnuplot.quote(xLabel))\n" }
        if !yLabel.isEmpty { script += "set ylabel \(Gnuplot.quote(yLabel))\n" }
        script += """
            set border 3 lw 1.2 lc rgb '#333333'
            set tics nomirror out scale 0.6
            set grid xtics ytics back lw 1 lc rgb '#e4e4e4'
            set style fill transparent solid 0.22 noborder
            set style textbox opaque noborder margins 1,1

            """
        // A linear axis fits the data tightly and is then padded, so the paper's large markers
        // are not cut by the border (extending to whole tics on top of the padding would waste
        // a tic's width). A log axis keeps gnuplot's extension to whole decades instead: fitted
        // tightly inside one decade it would show no labelled tic at all.
        let xPad = logX ? "0" : "graph 0.03", yPad = logY ? "0" : "graph 0.08"
        if !logX { script += "set autoscale xfix\n" }
        if !logY { script += "set autoscale yfix\n" }
        script += "set offsets \(xPad), \(xPad), \(yPad), \(yPad)\n"
        if logX { script += "set logscale x 10\nset grid mxtics lw 0.6 lc rgb '#f0f0f0'\n" }
        if logY { script += "set logscale y 10\nset grid mytics lw 0.6 lc rgb '#f0f0f0'\n" }
        // An empty figure would otherwise show an empty legend box.
        let hasKeyEntries = !curves.isEmpty || !references.isEmpty || reportedPlot != nil
        switch hasKeyEntries ? legend : .hidden {
        case .topRight: script += "set key top right"
        case .topLeft: script += "set key top left"
        case .bottomRight: script += "set key bottom right"
        case .bottomLeft: script += "set key bottom left"
        case .outsideRight: script += "set key outside right top"
        case .hidden: script += "unset key"
        }
        if hasKeyEntries && legend != .hidden { script += " opaque box lc rgb '#cccccc' samplen 3 spacing 1.2" }
        script += "\n"

        // A figure with no data at all still needs axis ranges gnuplot can accept; on a log
        // axis an unset range defaults to [-10:10], which gnuplot rejects.
        let haveData = blockCount > 0
        if let xRange {
            script += "set xrange [\(Gnuplot.number(xRange.lowerBound)):\(Gnuplot.number(xRange.upperBound))]\n"
        } else if !haveData {
            script += logX ? "set xrange [1:10]\n" : "set xrange [0:1]\n"
        }
        if let yRange {
            script += "set yrange [\(Gnuplot.number(yRange.lowerBound)):\(Gnuplot.number(yRange.upperBound))]\n"
        } else if !haveData && references.isEmpty {
            script += logY ? "set yrange [1:10]\n" : "set yrange [0:1]\n"
        }
        if !haveData {
            script += "set label 'no data' at graph 0.5, graph 0.5 center font ',14' tc rgb '#999999'\n"
        }

        if let xRange { xExtent = Extent(); xExtent.add(xRange.lowerBound, log: logX); xExtent.add(xRange.upperBound, log: logX) }
        for (number, point) in reportedLabels.enumerated() {
            // Labels near the right edge go to the left of their marker so they stay inside.
            let onRight = xExtent.fraction(of: point.x, log: logX) > 0.7
            let placement = onRight ? "right offset char -1.6, char 1.0" : "left offset char 1.6, char 1.0"
            script += "set label \(number + 1) \(Gnuplot.quote(point.label)) at first \(Gnuplot.number(point.x)), "
                + "first \(Gnuplot.number(point.y)) \(placement) boxed front tc rgb '\(Self.reportedColor)'\n"
        }

        var plots = bands + curves + references
        if let reportedPlot { plots.append(reportedPlot) }
        if plots.isEmpty { plots = ["NaN notitle"] }
        script += "\nplot \\\n    " + plots.joined(separator: ", \\\n    ") + "\n\nunset output\n"
        return (script, data, warnings)
    }

    private func validate() throws {
        guard size.width > 0, size.height > 0 else {
            throw PlotError.invalidInput("figure size must be positive, got \(size.width)x\(size.height)")
        }
        for (number, series) in series.enumerated() {
            let what = "series \(number) '\(series.name)'"
            guard series.x.count == series.y.count else {
                throw PlotError.invalidInput("\(what): x has \(series.x.count) values, y has \(series.y.count)")
            }
            guard (series.yLow == nil) == (series.yHigh == nil) else {
                throw PlotError.invalidInput("\(what): give both yLow and yHigh, or neither")
            }
            if let low = series.yLow, let high = series.yHigh,
               low.count != series.y.count || high.count != series.y.count {
                throw PlotError.invalidInput(
                    "\(what): yLow/yHigh have \(low.count)/\(high.count) values, y has \(series.y.count)")
            }
        }
        for range in [xRange, yRange].compactMap({ $0 }) {
            guard range.lowerBound.isFinite, range.upperBound.isFinite,
                  range.lowerBound < range.upperBound else {
                throw PlotError.invalidInput("axis range \(range) must be finite and not empty")
            }
        }
        if let xRange, logX, xRange.lowerBound <= 0 {
            throw PlotError.invalidInput("log x axis needs a positive range, got \(xRange)")
        }
        if let yRange, logY, yRange.lowerBound <= 0 {
            throw PlotError.invalidInput("log y axis needs a positive range, got \(yRange)")
        }
    }
}

/// `Figure` under a name that stays unambiguous in files that also import `Reporting`, whose
/// `Figure` is a report's image reference (or write `Plots.Figure`).
///
/// Usage: `try Figure(title: "loss", series: [s]).render(to: "figures/loss.png")`

/// Two blank lines end a gnuplot data block; none goes before the first, or gnuplot would
/// count an empty block 0.
func blockSeparator(_ index: Int) -> String { index == 0 ? "" : "\n\n" }

/// The span of the x values drawn, to decide which side of a marker its label goes on.
struct Extent {
    var low = Double.infinity
    var high = -Double.infinity

    mutating func add(_ value: Double, log: Bool) {
        let v = log ? Foundation.log10(value) : value
        guard v.isFinite else { return }
        low = min(low, v)
        high = max(high, v)
    }

    func fraction(of value: Double, log: Bool) -> Double {
        let v = log ? Foundation.log10(value) : value
        guard high > low else { return 0.5 }
        return (v - low) / (high - low)
    }
}
