import Foundation
import Testing
@testable import Plots

@Suite("Figure (gnuplot)")
struct FigureTests {
    static let steps: [Double] = [0, 100, 200, 300, 400, 500]
    static let train: [Double] = [4.2, 3.1, 2.5, 2.1, 1.95, 1.9]
    static let low: [Double] = [4.1, 3.0, 2.45, 2.05, 1.9, 1.85]
    static let high: [Double] = [4.3, 3.2, 2.55, 2.15, 2.0, 1.95]
    static let val: [Double] = [4.3, 3.3, 2.7, 2.3, 2.15, 2.1]

    static func standardFigure() -> Figure {
        Figure(title: "val loss", xLabel: "step", yLabel: "loss",
               series: [Series(name: "train", x: steps, y: train, yLow: low, yHigh: high),
                        Series(name: "val", x: steps, y: val, style: .linesPoints)],
               reported: [ReportedPoint(x: 500, y: 1.88), ReportedPoint(x: 250, y: 2.4, label: "mid")],
               hLines: [ReferenceLine(label: "nanoGPT: 1.88", y: 1.88)],
               size: PixelSize(width: 640, height: 400))
    }

    @Test("writes .gp, .dat and a PNG of the requested size; the .dat holds the input numbers",
          .enabled(if: gnuplotInstalled))
    func standardFigureRoundTrip() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let out = try Self.standardFigure().render(to: folder + "/loss.png")

        #expect(out.script == folder + "/loss.gp")
        #expect(out.data == folder + "/loss.dat")
        #expect(fileExists(out.script) && fileExists(out.data))
        #expect(out.warnings.isEmpty)

        let blocks = try parseDataBlocks(out.data)
        try #require(blocks.count == 3)
        #expect(blocks[0].header.contains("train"))
        #expect(blocks[0].rows == zip(Self.steps.indices, Self.steps).map { i, x in
            [x, Self.train[i], Self.low[i], Self.high[i]]
        })
        #expect(blocks[1].header.contains("val"))
        #expect(blocks[1].rows == zip(Self.steps, Self.val).map { [$0, $1] })
        #expect(blocks[2].header.contains("reported"))
        #expect(blocks[2].rows == [[500, 1.88], [250, 2.4]])

        let script = try String(contentsOfFile: out.script, encoding: .utf8)
        #expect(script.contains("set terminal pngcairo size 640,400"))
        #expect(script.contains("'loss.dat' index 0"))
        #expect(!script.contains(folder), "the script must use relative paths only")
        #expect(script.contains("'paper: 1.88'"))
        #expect(script.contains("1.88 with lines dt"))

        let image = try readPNG(path: out.png)
        #expect(image.width == 640 && image.height == 400)
        // No temporary files left beside the figure.
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(names == ["loss.dat", "loss.gp", "loss.png"])
    }

    @Test("running `gnuplot loss.gp` in the folder redraws the same PNG", .enabled(if: gnuplotInstalled))
    func scriptIsStandalone() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let out = try Self.standardFigure().render(to: folder + "/loss.png")
        let first = try readPNG(path: out.png)
        try FileManager.default.removeItem(atPath: out.png)

        #expect(try runGnuplot(script: "loss.gp", in: folder) == 0)
        let again = try readPNG(path: out.png)
        #expect(again.width == first.width && again.height == first.height)
        #expect(again.rgb == first.rgb)
    }

    @Test("NaN and infinity are left out of the data, with a gap and a warning",
          .enabled(if: gnuplotInstalled))
    func nonFiniteValuesAreSkipped() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let fig = Figure(series: [Series(name: "loss", x: [1, 2, 3, 4, 5, .nan],
                                         y: [1.0, .nan, .infinity, 0.5, 0.4, 0.3])],
                         reported: [ReportedPoint(x: 3, y: .nan)])
        let out = try fig.render(to: folder + "/nan.png")

        let blocks = try parseDataBlocks(out.data)
        #expect(blocks.count == 1)
        #expect(blocks[0].rows == [[1, 1.0], [4, 0.5], [5, 0.4]])
        let text = try String(contentsOfFile: out.data, encoding: .utf8)
        #expect(text.contains("1.0 1.0\n\n4.0 0.5"), "a single blank line breaks the curve at the gap")
        #expect(out.warnings.contains { $0.contains("dropped 3 non-finite") })
        #expect(out.warnings.contains { $0.contains("reported points") })
        let script = try String(contentsOfFile: out.script, encoding: .utf8)
        #expect(script.contains("# warning: series 0 'loss': dropped 3 non-finite point(s)"))
        #expect(fileExists(out.png))
    }

    @Test("a NaN spread edge keeps the point but drops its band", .enabled(if: gnuplotInstalled))
    func nanSpreadKeepsPoint() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let fig = Figure(series: [Series(name: "s", x: [1, 2, 3], y: [1, 2, 3],
                                         yLow: [0.5, .nan, 2.5], yHigh: [1.5, 2.5, 3.5])])
        let out = try fig.render(to: folder + "/band.png")
        let rows = try parseDataBlocks(out.data)[0].rows
        #expect(rows.count == 3)
        #expect(rows[1][0] == 2 && rows[1][1] == 2 && rows[1][2].isNaN && rows[1][3].isNaN)
    }

    @Test("log axes drop values <= 0 and say so in the script", .enabled(if: gnuplotInstalled))
    func logAxesDropNonPositive() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let fig = Figure(logX: true, logY: true,
                         series: [Series(name: "scaling", x: [0, 10, 100, 1000], y: [5, 4, -1, 2])],
                         hLines: [ReferenceLine(label: "zero", y: 0)])
        let out = try fig.render(to: folder + "/loglog.png")
        #expect(try parseDataBlocks(out.data)[0].rows == [[10, 4], [1000, 2]])
        let script = try String(contentsOfFile: out.script, encoding: .utf8)
        #expect(script.contains("# warning: series 0 'scaling': dropped 2 point(s) <= 0 on a log axis"))
        #expect(script.contains("# warning: reference line 'zero'"))
        #expect(script.contains("set logscale x 10") && script.contains("set logscale y 10"))
    }

    @Test("all-empty series on log axes render an empty 'no data' frame", .enabled(if: gnuplotInstalled))
    func emptySeriesOnLogAxes() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let fig = Figure(title: "nothing yet", logX: true, logY: true,
                         series: [Series(name: "a", x: [], y: []),
                                  Series(name: "b", x: [-1, 0], y: [1, 2])],
                         size: PixelSize(width: 300, height: 200))
        let out = try fig.render(to: folder + "/empty.png")
        let image = try readPNG(path: out.png)
        #expect(image.width == 300 && image.height == 200)
        #expect(out.warnings.contains { $0.contains("'a': no plottable points") })
        #expect(out.warnings.contains { $0.contains("'b': no plottable points") })
        let script = try String(contentsOfFile: out.script, encoding: .utf8)
        #expect(script.contains("'no data'"))
        #expect(try parseDataBlocks(out.data).allSatisfy { $0.rows.isEmpty })
    }

    @Test("a figure with no series at all, only a reference line, still renders",
          .enabled(if: gnuplotInstalled))
    func onlyReferenceLine() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let out = try Figure(logX: true, hLines: [ReferenceLine(label: "target", y: 1.88)])
            .render(to: folder + "/ref.png")
        #expect(fileExists(out.png))
    }

    @Test("quotes, underscores, backslashes and newlines in labels reach gnuplot intact",
          .enabled(if: gnuplotInstalled))
    func awkwardLabels() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let name = "it's \"x_1\" ^2 \\n `date` @x"
        let fig = Figure(title: name, xLabel: "a_b", yLabel: "line1\nline2",
                         series: [Series(name: name, x: [1, 2], y: [1, 2])],
                         reported: [ReportedPoint(x: 1, y: 1, label: "paper's")])
        let out = try fig.render(to: folder + "/fig with spaces's.png")
        let script = try String(contentsOfFile: out.script, encoding: .utf8)
        #expect(script.contains("set title 'it''s \"x_1\" ^2 \\n `date` @x'"))
        #expect(script.contains("set ylabel 'line1 line2'"))
        #expect(script.contains("noenhanced"))
        #expect(script.contains("'fig with spaces''s.dat' index 0"))
        #expect(fileExists(out.png))
    }

    @Test("a gnuplot failure throws with gnuplot's own message and leaves no PNG",
          .enabled(if: gnuplotInstalled))
    func gnuplotErrorIsReported() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let fig = Figure(series: [Series(name: "s", x: [1, 2], y: [1, 2], color: "no-such-colour")])
        do {
            try fig.render(to: folder + "/bad.png")
            Issue.record("expected gnuplot to fail")
        } catch let PlotError.gnuplotFailed(status, message, script) {
            #expect(status != 0)
            #expect(message.contains("color"), "got: \(message)")
            #expect(script.hasSuffix("bad.gp"))
        }
        #expect(!fileExists(folder + "/bad.png"))
        #expect(fileExists(folder + "/bad.gp"), "the script stays for debugging")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty)
    }

    @Test("without gnuplot the error names the package to install, and .gp/.dat are still written")
    func missingGnuplot() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let files = try FigureFiles(pngPath: folder + "/x.png")
        let built = try Self.standardFigure().gnuplotInput(files: files)
        #expect(throws: PlotError.gnuplotNotFound) {
            try Gnuplot.render(files: files, script: built.script, data: built.data, warnings: [],
                               executable: "gnuplot-that-does-not-exist")
        }
        #expect(PlotError.gnuplotNotFound.description.contains("apt-get install gnuplot-nox"))
        #expect(fileExists(folder + "/x.gp") && fileExists(folder + "/x.dat"))
        #expect(!fileExists(folder + "/x.png"))
    }

    @Test("mismatched lengths and bad ranges are rejected before anything is written")
    func invalidInput() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        #expect(throws: PlotError.self) {
            try Figure(series: [Series(name: "s", x: [1, 2], y: [1])]).render(to: folder + "/a.png")
        }
        #expect(throws: PlotError.self) {
            try Figure(series: [Series(name: "s", x: [1], y: [1], yLow: [0])]).render(to: folder + "/b.png")
        }
        #expect(throws: PlotError.self) {
            try Figure(logY: true, yRange: 0...1).render(to: folder + "/c.png")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }

    @Test("overSeeds averages finite runs and spans min...max")
    func overSeeds() {
        let s = Series.overSeeds(name: "m", x: [0, 1, 2],
                                 runs: [[1, 2, .nan], [3, .nan, .nan], [2, 5, .nan]])
        #expect(s.y[0] == 2 && s.y[1] == 3.5 && s.y[2].isNaN)
        #expect(s.yLow?[0] == 1 && s.yHigh?[0] == 3)
        #expect(s.yLow?[1] == 2 && s.yHigh?[1] == 5)
        let sd = Series.overSeeds(name: "m", x: [0], runs: [[1], [3]], spread: .standardDeviation)
        #expect(sd.yLow?[0] == 2 - 2.0.squareRoot() && sd.yHigh?[0] == 2 + 2.0.squareRoot())
    }

    @Test("gnuplot strings are single-quoted with quotes doubled")
    func quoting() {
        #expect(Gnuplot.quote("a_b") == "'a_b'")
        #expect(Gnuplot.quote("it's") == "'it''s'")
        #expect(Gnuplot.quote("a\nb") == "'a b'")
        #expect(Gnuplot.number(1e-5) == "1e-05")
        #expect(ReportedPoint(x: 1, y: 1.88).label == "paper: 1.88")
    }
}
