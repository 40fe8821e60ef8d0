// Ferry's native addon: the few calls a systemd service needs that Node.js cannot make itself, and
// one copy the engine makes slowly.
//
//   notify(state)            sd_notify(3): one datagram to the AF_UNIX socket in $NOTIFY_SOCKET
//   watchdogUsec()           sd_watchdog_enabled(3): $WATCHDOG_USEC, if $WATCHDOG_PID is us
//   setThreadAffinity(cpus)  sched_setaffinity(2) for the calling thread only
//   threadId()               gettid(2) of the calling thread
//   supported                false where these calls do not exist (anything but Linux)
//   limitMallocArenas(n)     mallopt(M_ARENA_MAX, n): threads that have no malloc arena yet share
//                            the existing ones; false where the C library is not glibc
//   copySpans(sources, targets, spans, count)
//                            memmove of `count` spans, each [source, sourceAt, target, targetAt,
//                            length] (indexes into the two arrays of Uint8Arrays), each checked
//                            against its buffers before it is copied; on any platform
//
// It is a Node-API module, so every realm that loads it (the main thread and each worker thread)
// gets its own exports, and it keeps no state of its own: nothing here needs a lock.
//
// libsystemd is deliberately not linked: the notify protocol is one datagram, and a library
// dependency would make the build fail on hosts without its headers.

#include <napi.h>
#include <uv.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#ifdef __linux__
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#endif

namespace {

// An Error shaped like Node's own system errors: `code` is the errno name, `errno` is negative,
// `syscall` names the call, and the message reads "ECONNREFUSED: connection refused, sendto 'path'".
Napi::Error SystemError(Napi::Env env, int err, const char* syscall, const std::string& subject) {
  // On Unix, libuv's error codes are the negated errno values, so its name and text tables apply.
  const char* code = uv_err_name(-err);
  std::string message = std::string(code) + ": " + uv_strerror(-err) + ", " + syscall;
  if (!subject.empty()) message += " '" + subject + "'";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, -err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

// An Error for a malformed value in the environment, with a stable code callers can match.
Napi::Error EnvironmentError(Napi::Env env, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, "ERR_SYSTEMD_ENVIRONMENT"));
  return error;
}

// Reads one variable of the process environment. The environment is read at call time, not at
// load time, because systemd's variables may be set or cleared after the addon loaded (tests do
// that). A worker thread sees the process environment here, not its own copy of process.env.
const char* ReadEnvironment(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

// Parses a non-empty run of decimal digits; anything else (sign, space, suffix, overflow) fails.
bool ParseUnsigned(const char* text, std::uint64_t* out) {
  if (*text == '\0') return false;
  std::uint64_t value = 0;
  for (const char* c = text; *c != '\0'; ++c) {
    if (*c < '0' || *c > '9') return false;
    const std::uint64_t digit = static_cast<std::uint64_t>(*c - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
  }
  *out = value;
  return true;
}

#ifdef __linux__

Napi::Value Notify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "notify(state): state must be a string");
  }
  const std::string state = info[0].As<Napi::String>().Utf8Value();
  if (state.empty()) throw Napi::TypeError::New(env, "notify(state): state must not be empty");

  const char* socketName = ReadEnvironment("NOTIFY_SOCKET");
  if (socketName == nullptr) return Napi::Boolean::New(env, false);

  // "/path" is a socket in the file system; "@name" is an abstract socket, whose address starts
  // with a NUL byte and is not NUL-terminated (its length is part of the name).
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::size_t nameLength = std::strlen(socketName);
  const bool abstract = socketName[0] == '@';
  if (!abstract && socketName[0] != '/') throw SystemError(env, EAFNOSUPPORT, "socket", socketName);
  if (nameLength > sizeof(address.sun_path) - (abstract ? 0 : 1)) {
    throw SystemError(env, ENAMETOOLONG, "sendto", socketName);
  }
  std::memcpy(address.sun_path, socketName, nameLength);
  if (abstract) address.sun_path[0] = '\0';
  const socklen_t addressLength =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + nameLength + (abstract ? 0 : 1));

  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw SystemError(env, errno, "socket", socketName);
  // MSG_DONTWAIT: when the receiver's queue is full, fail with EAGAIN rather than block the
  // calling thread (usually the event loop) until systemd catches up.
  ssize_t sent;
  do {
    sent = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                  reinterpret_cast<const sockaddr*>(&address), addressLength);
  } while (sent < 0 && errno == EINTR);
  const int sendError = errno;
  close(fd);
  if (sent < 0) throw SystemError(env, sendError, "sendto", socketName);
  // A datagram is sent whole or not at all; a short count would be a kernel bug, not a retry.
  if (static_cast<std::size_t>(sent) != state.size()) {
    throw SystemError(env, EMSGSIZE, "sendto", socketName);
  }
  return Napi::Boolean::New(env, true);
}

Napi::Value WatchdogUsec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usecText = ReadEnvironment("WATCHDOG_USEC");
  if (usecText == nullptr) return Napi::Number::New(env, 0);
  std::uint64_t usec = 0;
  if (!ParseUnsigned(usecText, &usec) || usec == 0) {
    throw EnvironmentError(env, std::string("WATCHDOG_USEC must be a positive integer of "
                                            "microseconds, got '") + usecText + "'");
  }
  // systemd sets WATCHDOG_PID to the main process; a child that inherited the variables must
  // not think the watchdog is its job.
  const char* pidText = ReadEnvironment("WATCHDOG_PID");
  if (pidText != nullptr) {
    std::uint64_t pid = 0;
    if (!ParseUnsigned(pidText, &pid) || pid == 0) {
      throw EnvironmentError(env, std::string("WATCHDOG_PID must be a positive integer, got '") +
                                      pidText + "'");
    }
    if (pid != static_cast<std::uint64_t>(getpid())) return Napi::Number::New(env, 0);
  }
  return Napi::Number::New(env, static_cast<double>(usec));
}

Napi::Value SetThreadAffinity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsArray()) {
    throw Napi::TypeError::New(env, "setThreadAffinity(cpus): cpus must be an array of CPU numbers");
  }
  const Napi::Array list = info[0].As<Napi::Array>();
  const std::uint32_t count = list.Length();
  if (count == 0) throw Napi::TypeError::New(env, "setThreadAffinity(cpus): cpus must not be empty");
  // The kernel supports at most CONFIG_NR_CPUS (8192 on most distributions) CPUs; the bound only
  // keeps a bad argument from allocating a huge mask.
  constexpr double kMaxCpu = 65535;
  std::vector<int> cpus;
  cpus.reserve(count);
  int highest = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    const Napi::Value item = list.Get(i);
    const double cpu = item.IsNumber() ? item.As<Napi::Number>().DoubleValue() : -1;
    if (!(cpu >= 0 && cpu <= kMaxCpu) || cpu != static_cast<double>(static_cast<int>(cpu))) {
      throw Napi::TypeError::New(env, "setThreadAffinity(cpus): each CPU must be an integer "
                                      "between 0 and 65535");
    }
    cpus.push_back(static_cast<int>(cpu));
    if (cpus.back() > highest) highest = cpus.back();
  }

  // A dynamically sized mask, so hosts with more than CPU_SETSIZE (1024) CPUs work too.
  cpu_set_t* mask = CPU_ALLOC(highest + 1);
  if (mask == nullptr) throw SystemError(env, ENOMEM, "sched_setaffinity", "");
  const std::size_t maskSize = CPU_ALLOC_SIZE(highest + 1);
  CPU_ZERO_S(maskSize, mask);
  for (const int cpu : cpus) CPU_SET_S(cpu, maskSize, mask);
  // pid 0 is the calling thread, not the process: only this thread moves.
  const int result = sched_setaffinity(0, maskSize, mask);
  const int affinityError = errno;
  CPU_FREE(mask);
  if (result != 0) throw SystemError(env, affinityError, "sched_setaffinity", "");
  return env.Undefined();
}

Napi::Value ThreadId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(syscall(SYS_gettid)));
}

constexpr bool kSupported = true;

#else  // not Linux: the module loads, reports itself unsupported, and every call throws ENOSYS.

Napi::Value Unsupported(const Napi::CallbackInfo& info) {
  throw SystemError(info.Env(), ENOSYS, "ferry_native", "");
}
Napi::Value Notify(const Napi::CallbackInfo& info) { return Unsupported(info); }
Napi::Value WatchdogUsec(const Napi::CallbackInfo& info) { return Unsupported(info); }
Napi::Value SetThreadAffinity(const Napi::CallbackInfo& info) { return Unsupported(info); }
Napi::Value ThreadId(const Napi::CallbackInfo& info) { return Unsupported(info); }

constexpr bool kSupported = false;

#endif

// glibc gives each thread that mallocs while others hold the existing arenas an arena of its own
// (up to 8 per core), and memory one arena frees serves only the threads on that arena. Capping
// them makes a worker thread's allocations reuse what the main thread freed. Only arenas made
// after the call are affected; the caller checks the environment first (glibc applied any
// MALLOC_ARENA_MAX or GLIBC_TUNABLES at start-up, and the operator's choice stands).
Napi::Value LimitMallocArenas(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double n = info.Length() == 1 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  if (!(n >= 1 && n <= 1024) || n != static_cast<double>(static_cast<int>(n))) {
    throw Napi::TypeError::New(env, "limitMallocArenas(n): n must be an integer between 1 and 1024");
  }
#ifdef __GLIBC__
  if (mallopt(M_ARENA_MAX, static_cast<int>(n)) != 1) throw SystemError(env, EINVAL, "mallopt", "M_ARENA_MAX");
  return Napi::Boolean::New(env, true);
#else
  return Napi::Boolean::New(env, false);
#endif
}

// One span of copySpans: five int32s.
constexpr size_t kSpanInts = 5;
// Buffers one call may name on either side (src/threads/span-copier.ts stays below this).
constexpr uint32_t kMaxBuffers = 64;

struct Bytes {
  uint8_t* data;
  size_t length;
};

// The Uint8Arrays of `list`, at most kMaxBuffers of them, into `out`; returns how many.
uint32_t BytesOf(Napi::Env env, const Napi::Value& value, const char* what, Bytes* out) {
  if (!value.IsArray()) throw Napi::TypeError::New(env, std::string("copySpans: ") + what + " must be an array");
  Napi::Array list = value.As<Napi::Array>();
  const uint32_t n = list.Length();
  if (n > kMaxBuffers) throw Napi::RangeError::New(env, std::string("copySpans: more than 64 ") + what);
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value item = list.Get(i);
    if (!item.IsTypedArray() || item.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env, std::string("copySpans: ") + what + " must hold Uint8Arrays");
    }
    Napi::Uint8Array bytes = item.As<Napi::Uint8Array>();
    out[i] = Bytes{bytes.Data(), bytes.ByteLength()};
  }
  return n;
}

// Copies between memory the engine may share with other threads (a SharedArrayBuffer) with a
// plain memmove: V8's own copies of shared memory go byte by byte unless both sides share their
// alignment to 8. The caller guarantees that no other thread writes the spans meanwhile.
Napi::Value CopySpans(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes sources[kMaxBuffers];
  Bytes targets[kMaxBuffers];
  const uint32_t nSources = BytesOf(env, info[0], "sources", sources);
  const uint32_t nTargets = BytesOf(env, info[1], "targets", targets);
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(env, "copySpans: spans must be an Int32Array");
  }
  Napi::Int32Array spans = info[2].As<Napi::Int32Array>();
  if (!info[3].IsNumber()) throw Napi::TypeError::New(env, "copySpans: count must be a number");
  const int64_t count = info[3].As<Napi::Number>().Int64Value();
  if (count < 0 || static_cast<uint64_t>(count) * kSpanInts > spans.ElementLength()) {
    throw Napi::RangeError::New(env, "copySpans: count beyond the spans");
  }
  const int32_t* s = spans.Data();
  for (int64_t i = 0; i < count; i++, s += kSpanInts) {
    const int32_t source = s[0], sourceAt = s[1], target = s[2], targetAt = s[3], length = s[4];
    if (source < 0 || static_cast<uint32_t>(source) >= nSources || target < 0 || static_cast<uint32_t>(target) >= nTargets ||
        sourceAt < 0 || targetAt < 0 || length < 0 ||
        static_cast<size_t>(sourceAt) + static_cast<size_t>(length) > sources[source].length ||
        static_cast<size_t>(targetAt) + static_cast<size_t>(length) > targets[target].length) {
      throw Napi::RangeError::New(env, "copySpans: span " + std::to_string(i) + " out of bounds");
    }
    std::memmove(targets[target].data + targetAt, sources[source].data + sourceAt, static_cast<size_t>(length));
  }
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("supported", Napi::Boolean::New(env, kSupported));
  exports.Set("notify", Napi::Function::New(env, Notify, "notify"));
  exports.Set("watchdogUsec", Napi::Function::New(env, WatchdogUsec, "watchdogUsec"));
  exports.Set("setThreadAffinity", Napi::Function::New(env, SetThreadAffinity, "setThreadAffinity"));
  exports.Set("threadId", Napi::Function::New(env, ThreadId, "threadId"));
  exports.Set("limitMallocArenas", Napi::Function::New(env, LimitMallocArenas, "limitMallocArenas"));
  exports.Set("copySpans", Napi::Function::New(env, CopySpans, "copySpans"));
  return exports;
}

}  // namespace

NODE_API_MODULE(ferry_native, Init)
