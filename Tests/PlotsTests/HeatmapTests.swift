import Foundation
import Testing
@testable import Plots

@Suite("Heatmap (raster) and HeatmapFigure (gnuplot)")
struct HeatmapTests {
    /// Writes the heatmap, reads the PNG back and returns it with the layout used to draw it.
    func drawn(_ heatmap: Heatmap, in folder: String) throws
        -> (image: (width: Int, height: Int, rgb: [UInt8]), layout: Heatmap.Layout) {
        let path = folder + "/heat.png"
        try heatmap.writePNG(to: path)
        let image = try readPNG(path: path)
        let layout = heatmap.layout(labels: heatmap.barLabels())
        #expect(image.width == layout.width && image.height == layout.height)
        return (image, layout)
    }

    @Test("each cell's centre has its value's colour; min is the first stop, max the last")
    func cellColours() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let values: [Double] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
        let heatmap = Heatmap(values: values, rows: 3, cols: 4, title: "cells")
        let (image, layout) = try drawn(heatmap, in: folder)

        let minCentre = layout.cellCenter(row: 0, col: 0)
        let maxCentre = layout.cellCenter(row: 2, col: 3)
        #expect(pixel(image, minCentre.x, minCentre.y) == Colormap.viridis.stops.first!)
        #expect(pixel(image, maxCentre.x, maxCentre.y) == Colormap.viridis.stops.last!)
        for r in 0..<3 {
            for c in 0..<4 {
                let centre = layout.cellCenter(row: r, col: c)
                let expected = Colormap.viridis.color(at: values[r * 4 + c] / 11)
                #expect(pixel(image, centre.x, centre.y) == expected, "cell \(r),\(c)")
            }
        }
    }

    @Test("the default cell size makes a small matrix ~600 px, and cellSize is honoured")
    func cellSize() {
        let small = Heatmap(values: [1, 2, 3, 4], rows: 2, cols: 2).layout(labels: [])
        #expect(small.cell == 300 && small.mapWidth == 600)
        let fixed = Heatmap(values: [1, 2, 3, 4], rows: 1, cols: 4, cellSize: 10).layout(labels: [])
        #expect(fixed.mapWidth == 40 && fixed.mapHeight == 10)
        #expect(fixed.barHeight == Heatmap.Layout.minimumBarHeight)
    }

    @Test("a constant matrix draws the middle colour instead of dividing by zero")
    func constantMatrix() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let (image, layout) = try drawn(Heatmap(values: [3, 3, 3, 3], rows: 2, cols: 2), in: folder)
        let centre = layout.cellCenter(row: 1, col: 1)
        #expect(pixel(image, centre.x, centre.y) == Colormap.viridis.color(at: 0.5))
    }

    @Test("NaN cells are magenta; infinities take the end colours")
    func nanAndInfinity() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let heatmap = Heatmap(values: [0, .nan, .infinity, -.infinity, 1, 0.5], rows: 2, cols: 3)
        #expect(heatmap.effectiveRange == 0...1)
        let (image, layout) = try drawn(heatmap, in: folder)
        func at(_ r: Int, _ c: Int) -> RGB {
            let p = layout.cellCenter(row: r, col: c)
            return pixel(image, p.x, p.y)
        }
        #expect(at(0, 1) == Colormap.nanColor)
        #expect(at(0, 2) == Colormap.viridis.stops.last!)
        #expect(at(1, 0) == Colormap.viridis.stops.first!)
    }

    @Test("the colour bar runs from the last stop at the top to the first at the bottom")
    func colourBar() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let (image, layout) = try drawn(Heatmap(values: [0, 1, 2, 3], rows: 2, cols: 2), in: folder)
        let x = layout.barX + Heatmap.Layout.barWidth / 2
        for py in [0, layout.barHeight / 3, layout.barHeight - 1] {
            let t = 1 - (Double(py) + 0.5) / Double(layout.barHeight)
            #expect(pixel(image, x, layout.barY + py) == Colormap.viridis.color(at: t), "bar row \(py)")
        }
        let top = pixel(image, x, layout.barY), bottom = pixel(image, x, layout.barY + layout.barHeight - 1)
        let last = Colormap.viridis.stops.last!, first = Colormap.viridis.stops.first!
        #expect(abs(Int(top.g) - Int(last.g)) < 4 && abs(Int(bottom.b) - Int(first.b)) < 4)
    }

    @Test("the bar's labels are drawn: ink beside each tick, and in the title")
    func labelsHaveInk() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let heatmap = Heatmap(values: [-1.5, 0, 2, 1e-3], rows: 2, cols: 2, title: "Attn_0")
        #expect(heatmap.barLabels() == ["2", "0.25", "-1.5"])
        let (image, layout) = try drawn(heatmap, in: folder)

        func inkCount(x: Int, y: Int, width: Int, height: Int) -> Int {
            var count = 0
            for py in max(y, 0)..<min(y + height, image.height) {
                for px in max(x, 0)..<min(x + width, image.width)
                where pixel(image, px, py) == Heatmap.ink { count += 1 }
            }
            return count
        }
        for t in [1.0, 0.5, 0.0] {
            let y = layout.tickY(t) - layout.textHeight / 2
            #expect(inkCount(x: layout.labelX, y: y, width: 80, height: layout.textHeight) > 20, "label at t=\(t)")
        }
        #expect(inkCount(x: 0, y: layout.titleY, width: image.width, height: layout.textHeight) > 20)
        // The margin above the title stays empty: text is placed, not smeared.
        #expect(inkCount(x: 0, y: 0, width: image.width, height: layout.titleY) == 0)
    }

    @Test("font: known glyph shapes, widths, and a fallback for unknown characters")
    func bitmapFont() {
        #expect(BitmapFont.glyph("1") == [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110])
        #expect(BitmapFont.glyph("e") == BitmapFont.glyph("E"))
        #expect(BitmapFont.glyph("ß") == BitmapFont.glyph("S"))
        #expect(BitmapFont.glyph("~") == BitmapFont.glyph("?"))
        #expect(BitmapFont.width(of: "12", scale: 2) == 22)
        var canvas = Canvas(width: 12, height: 7, background: RGB(255, 255, 255))
        canvas.text("-", x: 0, y: 0, scale: 1, RGB(0, 0, 0))
        #expect((0..<5).allSatisfy { canvas.pixel(x: $0, y: 3) == RGB(0, 0, 0) })
        #expect(canvas.pixel(x: 0, y: 2) == RGB(255, 255, 255))
    }

    @Test("colormaps: diverging is symmetric about zero, binary splits at the middle")
    func colormaps() {
        #expect(Colormap.diverging.defaultRange(for: [-1, 3, .nan]) == -3...3)
        #expect(Colormap.viridis.defaultRange(for: [-1, 3, .nan]) == -1...3)
        #expect(Colormap.viridis.defaultRange(for: [.nan]) == 0...1)
        #expect(Colormap.diverging.color(at: 0.5) == RGB(247, 247, 247))
        #expect(Colormap.binary.color(at: 0.49) == Colormap.binary.stops[0])
        #expect(Colormap.binary.color(at: 0.5) == Colormap.binary.stops[1])
        #expect(Colormap.viridis.color(at: -3) == Colormap.viridis.stops[0])
        #expect(Colormap.viridis.color(at: .nan) == Colormap.nanColor)
        #expect(Colormap.viridis.stops[0].hex == "#440154")
        #expect(unitPosition(5, in: 5...5) == 0.5)
    }

    @Test("bad shapes are rejected")
    func invalid() {
        #expect(throws: PlotError.self) { try Heatmap(values: [1, 2, 3], rows: 2, cols: 2).rasterize() }
        #expect(throws: PlotError.self) { try Heatmap(values: [], rows: 0, cols: 0).rasterize() }
        #expect(throws: PlotError.self) { try Heatmap(matrix: [[1, 2], [3]]) }
        #expect(throws: PlotError.self) { try Heatmap(values: [1], rows: 1, cols: 1, cellSize: 0).rasterize() }
    }

    @Test("HeatmapFigure keeps the matrix in its .dat and renders with gnuplot", .enabled(if: gnuplotInstalled))
    func heatmapFigure() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let values: [Double] = [0.1, 0.2, 0.7, 0.5, .nan, 0.5]
        let fig = HeatmapFigure(values: values, rows: 2, cols: 3, title: "attn_0", xLabel: "key",
                                yLabel: "query", xTickLabels: ["a", "b'", "c"], yTickLabels: ["q0", "q1"],
                                size: PixelSize(width: 500, height: 400))
        let out = try fig.render(to: folder + "/attn.png")
        let rows = try parseDataBlocks(out.data)[0].rows
        #expect(rows.count == 2 && rows[0] == [0.1, 0.2, 0.7])
        #expect(rows[1][0] == 0.5 && rows[1][1].isNaN && rows[1][2] == 0.5)
        let image = try readPNG(path: out.png)
        #expect(image.width == 500 && image.height == 400)
        let script = try String(contentsOfFile: out.script, encoding: .utf8)
        #expect(script.contains("'attn.dat' matrix with image"))
        #expect(script.contains("set xtics ('a' 0, 'b''' 1, 'c' 2)"))
        #expect(out.warnings.contains { $0.contains("non-finite") })

        try FileManager.default.removeItem(atPath: out.png)
        #expect(try runGnuplot(script: "attn.gp", in: folder) == 0)
        #expect(try readPNG(path: out.png).rgb == image.rgb)
    }

    @Test("HeatmapFigure handles a single row and a constant matrix", .enabled(if: gnuplotInstalled))
    func heatmapFigureEdgeCases() throws {
        let folder = try makeScratchFolder()
        defer { removeFolder(folder) }
        let row = try HeatmapFigure(values: [1, 2, 3], rows: 1, cols: 3).render(to: folder + "/row.png")
        #expect(fileExists(row.png))
        let flat = try HeatmapFigure(values: [2, 2, 2, 2], rows: 2, cols: 2).render(to: folder + "/flat.png")
        let script = try String(contentsOfFile: flat.script, encoding: .utf8)
        #expect(script.contains("set cbrange [1.5:2.5]"))
    }
}
