# Ferry's native addon: sd_notify, the watchdog environment, per-thread CPU affinity, and batched
# copies out of shared memory. Built by `node-gyp rebuild --directory native` from the root
# package's `install` script; when the build fails Ferry falls back to src/management/systemd.ts's
# and src/threads/span-copier.ts's pure-TypeScript paths.
{
  "targets": [
    {
      "target_name": "ferry_native",
      "sources": ["src/ferry_native.cc"],
      # node_addon_api_except: node-addon-api with C++ exceptions, so a failed syscall becomes a
      # JavaScript Error thrown from the call.
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8"],
      # The calls are Linux-only. Elsewhere the source still compiles and each function throws
      # ENOSYS, so src/management/systemd.ts falls back to its TypeScript paths.
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"]
    }
  ]
}
