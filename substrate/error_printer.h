// GoogleTest prints an Error by its sc-allocator message instead of its byte.
#ifndef FREEBUMP_SUBSTRATE_ERROR_PRINTER_H_
#define FREEBUMP_SUBSTRATE_ERROR_PRINTER_H_

#include <ostream>

#include "substrate/allocator.h"

namespace freebump {
namespace substrate {

inline void PrintTo(Error error, std::ostream* out) { *out << message(error); }

}  // namespace substrate
}  // namespace freebump

#endif  // FREEBUMP_SUBSTRATE_ERROR_PRINTER_H_
