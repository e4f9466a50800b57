// FREEBUMP_EXPORT: marks a definition as one of the library's exported symbols.
//
// The preload library is compiled with -fvisibility=hidden (preload/BUILD.bazel), so that only
// what is marked here can interpose on the program's malloc; exports.map then lists the names
// the linker keeps. Language linkage is not part of it: the C functions sit in an extern "C"
// block, operator new and delete keep C++ linkage.
#ifndef FREEBUMP_PRELOAD_EXPORT_H_
#define FREEBUMP_PRELOAD_EXPORT_H_

#define FREEBUMP_EXPORT __attribute__((visibility("default")))

#endif  // FREEBUMP_PRELOAD_EXPORT_H_
