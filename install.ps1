# Installs wazion-mcp, the stdio MCP bridge, for the current Windows user (no admin rights):
#
#   irm <release>/install.ps1 | iex
#
# It downloads wazion-mcp-<version>-<target>.zip for this machine from the release, checks it
# against its .sha256 file, puts wazion-mcp.exe in %LOCALAPPDATA%\Programs\wazion-mcp, and adds
# that folder to the user's PATH. Run it again to update: a wazion-mcp.exe that a client is
# running is renamed aside (Windows lets a running program be renamed, not replaced).
#
# Settings (environment):
#   WAZION_MCP_INSTALL_DIR   another folder (default %LOCALAPPDATA%\Programs\wazion-mcp)
#   WAZION_MCP_DOWNLOAD_URL  the folder holding the archives and their .sha256 files (an
#                            http(s) URL or a local folder; default: the release of $Version)
#   WAZION_MCP_VERSION       another released version
#
# Runs in Windows PowerShell 5.1 and PowerShell 7. Everything is inside one script block, so
# `iex` leaves no variables behind and an error never closes the window it runs in.
& {
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'   # Invoke-WebRequest's progress bar is very slow on 5.1

# The release this installer belongs to, stamped into the released copy by
# scripts/pkg/installers.sh from Cargo.toml (`repository`, `version`: the one place they are kept).
$Repository = ""
$Version = ""

if ($env:WAZION_MCP_VERSION) { $Version = $env:WAZION_MCP_VERSION }
$Version = $Version -replace '^v', ''
if (-not $Version) { throw "install.ps1: no version to install: set WAZION_MCP_VERSION, or use the released install.ps1" }
if ($env:WAZION_MCP_DOWNLOAD_URL) {
    $base = $env:WAZION_MCP_DOWNLOAD_URL.TrimEnd('/', '\')
} elseif ($Repository) {
    $base = "$($Repository.TrimEnd('/'))/releases/download/v$Version"
} else {
    throw "install.ps1: no download location: set WAZION_MCP_DOWNLOAD_URL"
}
$dir = if ($env:WAZION_MCP_INSTALL_DIR) { $env:WAZION_MCP_INSTALL_DIR } else { Join-Path $env:LOCALAPPDATA 'Programs\wazion-mcp' }

# The Rust targets whose archive runs here, best first: Windows on Arm also runs x64 programs.
$arch = $null
try { $arch = [string][System.Runtime.InteropServices.RuntimeInformation]::OSArchitecture } catch { }
if (-not $arch) { $arch = if ($env:PROCESSOR_ARCHITEW6432) { $env:PROCESSOR_ARCHITEW6432 } else { $env:PROCESSOR_ARCHITECTURE } }
$targets = switch -regex ($arch) {
    '^(Arm64|ARM64)$' { @('aarch64-pc-windows-msvc', 'x86_64-pc-windows-msvc') }
    '^(X64|AMD64)$' { @('x86_64-pc-windows-msvc') }
    default { @() }
}

[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12

# Fetch: $true when fetched, $false when the server has no such file (HTTP 404 or a missing
# local file); any other failure (network, TLS) stops the installer.
function Get-ReleaseFile([string]$Url, [string]$File) {
    if ($Url -match '^https?://') {
        try {
            Invoke-WebRequest -UseBasicParsing -Uri $Url -OutFile $File
            return $true
        } catch {
            $response = $_.Exception.Response
            if ($response -and [int]$response.StatusCode -eq 404) { return $false }
            throw "install.ps1: could not download ${Url}: $($_.Exception.Message)"
        }
    }
    $path = $Url -replace '^file://', ''
    if (-not (Test-Path -LiteralPath $path -PathType Leaf)) { return $false }
    Copy-Item -LiteralPath $path -Destination $File
    return $true
}

$tmp = Join-Path ([System.IO.Path]::GetTempPath()) ("wazion-mcp-install-" + [System.Guid]::NewGuid())
New-Item -ItemType Directory -Path $tmp | Out-Null
try {
    $archive = $null
    foreach ($target in $targets) {
        $name = "wazion-mcp-$Version-$target.zip"
        if (Get-ReleaseFile "$base/$name.sha256" (Join-Path $tmp "$name.sha256")) { $archive = $name; break }
    }
    if (-not $archive) {
        throw ("install.ps1: no release archive of wazion-mcp $Version for Windows $arch in $base. " +
            "With Rust 1.95+ and the MSVC build tools: cargo install --locked wazion-mcp")
    }
    Write-Host "install.ps1: downloading $base/$archive"
    $zip = Join-Path $tmp $archive
    if (-not (Get-ReleaseFile "$base/$archive" $zip)) { throw "install.ps1: $base/$archive is missing" }
    $want = ((Get-Content -LiteralPath "$zip.sha256" -TotalCount 1) -split '\s+')[0]
    $got = (Get-FileHash -Algorithm SHA256 -LiteralPath $zip).Hash
    if (-not $want -or $want -ne $got) {
        throw "install.ps1: checksum mismatch for ${archive}: expected $want, got $got; nothing was installed"
    }
    Expand-Archive -LiteralPath $zip -DestinationPath (Join-Path $tmp 'x') -Force
    $exe = Join-Path $tmp 'x\wazion-mcp.exe'
    if (-not (Test-Path -LiteralPath $exe -PathType Leaf)) { throw "install.ps1: $archive holds no wazion-mcp.exe at its top level" }

    New-Item -ItemType Directory -Path $dir -Force | Out-Null
    $dest = Join-Path $dir 'wazion-mcp.exe'
    Get-ChildItem -LiteralPath $dir -Filter 'wazion-mcp.exe.old-*' -ErrorAction SilentlyContinue |
        ForEach-Object { Remove-Item -LiteralPath $_.FullName -Force -ErrorAction SilentlyContinue }
    if (Test-Path -LiteralPath $dest) {
        Rename-Item -LiteralPath $dest -NewName ("wazion-mcp.exe.old-" + [DateTime]::UtcNow.ToString('yyyyMMddHHmmss'))
    }
    Copy-Item -LiteralPath $exe -Destination $dest
} finally {
    Remove-Item -LiteralPath $tmp -Recurse -Force -ErrorAction SilentlyContinue
}

# The user's PATH, read and written raw from the registry so %VARIABLES% in it stay
# unexpanded (REG_EXPAND_SZ), then announced to running programs by a no-op
# SetEnvironmentVariable (it broadcasts WM_SETTINGCHANGE). New terminals see it.
$key = Get-Item -LiteralPath 'HKCU:\Environment'
$userPath = [string]$key.GetValue('Path', '', 'DoNotExpandEnvironmentNames')
$parts = @($userPath -split ';' | Where-Object { $_ })
if ($parts -notcontains $dir) {
    $newPath = (@($dir) + $parts) -join ';'
    Set-ItemProperty -LiteralPath 'HKCU:\Environment' -Name 'Path' -Value $newPath -Type ExpandString
    [Environment]::SetEnvironmentVariable('WAZION_MCP_INSTALL_PATH_BROADCAST', '1', 'User')
    [Environment]::SetEnvironmentVariable('WAZION_MCP_INSTALL_PATH_BROADCAST', $null, 'User')
    $env:Path = "$dir;$env:Path"
    $pathNote = "added $dir to your user PATH (new terminals see it)"
} else {
    $pathNote = "$dir is already on your user PATH"
}

$dest = Join-Path $dir 'wazion-mcp.exe'
Write-Host "installed $dest ($(& $dest --version)), downloaded from $base/$archive (SHA-256 checked); $pathNote"
Write-Host ""
Write-Host "Next, add it to your MCP client (the token stays out of this output):"
Write-Host "  & '$dest' config claude-desktop --write     (or vscode, cursor, codex, gemini)"
Write-Host "then check the connection:"
Write-Host "  `$env:WAZION_TOKEN = 'wz_...'; & '$dest' check"
Write-Host "Uninstall: Remove-Item -Recurse '$dir', and remove it from your user PATH (Settings > Environment variables)."
}
