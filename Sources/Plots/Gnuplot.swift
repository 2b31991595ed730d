import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `render(to:)` left on disk, and anything it had to leave out on the way.
///
/// Usage: `let out = try fig.render(to: "figures/loss.png"); out.warnings.forEach { print($0) }`
public struct RenderedFigure: Sendable, Equatable {
    /// The PNG, as passed to `render(to:)`.
    public let png: String
    /// The standalone gnuplot script beside it; `cd <folder> && gnuplot <name>.gp` redraws the PNG.
    public let script: String
    /// The data file the script reads by relative path.
    public let data: String
    /// Points or lines that were dropped (NaN, non-positive on a log axis, empty series) and
    /// gnuplot's own warnings. The same notes are written as comments at the top of the script.
    public let warnings: [String]
}

/// The file names that belong to one gnuplot-rendered figure: `<folder>/<base>.{png,gp,dat}`.
struct FigureFiles {
    let folder: String
    let pngName: String
    let scriptName: String
    let dataName: String
    let pngPath: String

    init(pngPath: String) throws {
        let url = URL(fileURLWithPath: pngPath)
        let name = url.lastPathComponent
        guard !name.isEmpty, name != "/", !pngPath.hasSuffix("/") else {
            throw PlotError.invalidInput("render(to:) needs a file path, got '\(pngPath)'")
        }
        let base = name.lowercased().hasSuffix(".png") ? String(name.dropLast(4)) : name
        guard !base.isEmpty else {
            throw PlotError.invalidInput("render(to:) needs a file name before .png, got '\(pngPath)'")
        }
        folder = url.deletingLastPathComponent().path
        pngName = name
        scriptName = base + ".gp"
        dataName = base + ".dat"
        self.pngPath = pngPath
    }

    var scriptPath: String { folder + "/" + scriptName }
    var dataPath: String { folder + "/" + dataName }
}

enum Gnuplot {
    /// gnuplot's single-quoted strings take every character literally (no backslash escapes,
    /// no backquote command substitution, no `@` macros); only `'` itself must be doubled.
    /// Newlines would end the command, so they become spaces.
    static func quote(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\r\n", with: " ")
            .replacingOccurrences(of: "\n", with: " ")
            .replacingOccurrences(of: "\r", with: " ")
        return "'" + flat.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// Swift's `description` is the shortest text that parses back to the same Double, and
    /// gnuplot reads every form it produces ("0.1", "1e-05", "2.0").
    static func number(_ value: Double) -> String { value.description }

    /// The opening lines shared by every script: terminal, output name and house style.
    /// The output goes to `outfile` when the caller defines it (`gnuplot -e "outfile='x'"`),
    /// which lets `render` write to a temporary name while the script on disk names the PNG.
    static func preamble(files: FigureFiles, width: Int, height: Int) -> String {
        """
        set encoding utf8
        set terminal pngcairo size \(width),\(height) noenhanced font 'Sans,11' background '#ffffff'
        if (!exists("outfile")) outfile = \(quote(files.pngName))
        set output outfile

        """
    }

    /// Finds an executable on `PATH` the way a shell would.
    static func locate(_ name: String,
                       searchPath: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        let folders = (searchPath ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
        for folder in folders where !folder.isEmpty {
            let candidate = String(folder) + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Writes the data and script, runs gnuplot in the PNG's folder and moves the PNG into place.
    ///
    /// The script and data are written before gnuplot is looked for, so a machine without
    /// gnuplot still keeps everything needed to draw the figure later.
    static func render(files: FigureFiles, script: String, data: String,
                       warnings: [String], executable: String = "gnuplot") throws -> RenderedFigure {
        try ensureParentFolder(of: files.pngPath)
        try writeTextAtomically(data, to: files.dataPath)
        try writeTextAtomically(script, to: files.scriptPath)

        guard let gnuplot = locate(executable) else { throw PlotError.gnuplotNotFound }
        let temporary = URL(fileURLWithPath: temporaryPath(beside: files.pngPath)).lastPathComponent
        let temporaryFull = files.folder + "/" + temporary

        let process = Process()
        process.executableURL = URL(fileURLWithPath: gnuplot)
        process.arguments = ["-e", "outfile=" + quote(temporary), files.scriptName]
        process.currentDirectoryURL = URL(fileURLWithPath: files.folder, isDirectory: true)
        // One pipe for both streams: reading two pipes one after the other can deadlock
        // when the unread one fills up.
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw PlotError.io("cannot start \(gnuplot): \(error.localizedDescription)")
        }
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()

        let status = process.terminationStatus
        let produced = (try? FileManager.default.attributesOfItem(atPath: temporaryFull)[.size] as? Int) ?? 0
        guard status == 0, produced > 0 else {
            unlink(temporaryFull)
            let message = printed.isEmpty ? "gnuplot wrote no PNG and printed nothing" : printed
            throw PlotError.gnuplotFailed(status: status, message: message, script: files.scriptPath)
        }
        try moveIntoPlace(temporaryFull, files.pngPath)

        let gnuplotNotes = printed.split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
            .map { "gnuplot: " + $0 }
        return RenderedFigure(png: files.pngPath, script: files.scriptPath, data: files.dataPath,
                              warnings: warnings + gnuplotNotes)
    }
}

/// Compact number text for labels: "1.88", "0.000125", "1.5e+06".
func shortNumber(_ value: Double) -> String {
    guard value.isFinite else { return value.isNaN ? "NaN" : (value > 0 ? "inf" : "-inf") }
    return String(format: "%.4g", value)
}
