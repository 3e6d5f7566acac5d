// loadtest internals: the optional hooks every policy slot shares (`validate`, `describe`).
//
// A hook is used when the policy declares a member of that name; a member of that name with a
// signature the engine cannot call is a compile error that names the hook (never silently
// ignored). Overloaded or template members cannot be inspected and are used when callable.
#pragma once

#include <boost/core/demangle.hpp>

#include <string>
#include <typeinfo>

namespace loadtest::detail {

/** Calls `p.validate()` when `P` has it (it throws std::invalid_argument naming a bad value). */
template <class P>
void validate_if_possible(const P& p) {
  if constexpr (requires { &P::validate; }) {
    static_assert(requires { p.validate(); },
                  "policy hook 'validate' must be callable as `void validate() const` on a const policy");
    p.validate();
  } else if constexpr (requires { p.validate(); }) {
    p.validate();
  }
}

/** `p.describe()` when `P` has it (e.g. "RampUsers{users=20, ramp_up=5s, hold=10s}"), otherwise
 *  the demangled type name. Results record it in `config`. */
template <class P>
std::string describe(const P& p) {
  if constexpr (requires { &P::describe; }) {
    static_assert(requires { std::string(p.describe()); },
                  "policy hook 'describe' must be callable as `std::string describe() const` on a const policy");
    return std::string(p.describe());
  } else if constexpr (requires { std::string(p.describe()); }) {
    return std::string(p.describe());
  } else {
    return boost::core::demangle(typeid(P).name());
  }
}

}  // namespace loadtest::detail
