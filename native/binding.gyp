{
  # aether_fuse3: our N-API binding to libfuse3 (high-level, path-based API).
  # Build: npm run build:native   (needs libfuse3-dev, pkg-config, a C compiler, Node headers).
  # FUSE_USE_VERSION follows the installed libfuse: 312 (fuse_loop_cfg_*, max_threads) on 3.12+,
  # else 35 (libfuse 3.5 .. 3.11, e.g. Ubuntu 22.04's 3.10).
  "targets": [
    {
      "target_name": "aether_fuse3",
      "sources": ["src/aether_fuse3.c"],
      "cflags": [
        "<!@(pkg-config --cflags fuse3)",
        "-std=gnu11",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-O2"
      ],
      "libraries": ["<!@(pkg-config --libs fuse3)"],
      "defines": [
        "FUSE_USE_VERSION=<!(pkg-config --modversion fuse3 | awk -F. '{ v = $1 * 100 + $2; print (v >= 312) ? 312 : 35 }')",
        "NAPI_VERSION=8",
        "_FILE_OFFSET_BITS=64",
        "_GNU_SOURCE"
      ]
    }
  ]
}
