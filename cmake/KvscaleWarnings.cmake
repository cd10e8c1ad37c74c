# One place for warning flags, per language. -Werror comes from KVSCALE_WERROR (on in CI).
#
# -ffp-contract=off everywhere: the spec defines every result as separate IEEE operations, and
# HIP clang contracts by default. No fast-math flag may ever appear here (fp8-semantics.md).
function(kvscale_set_warnings target)
  set(cxx -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wnon-virtual-dtor -Wcast-align
          -Wunused -Woverloaded-virtual -Wnull-dereference -Wdouble-promotion -Wformat=2)
  if(KVSCALE_WERROR)
    list(APPEND cxx -Werror)
  endif()
  if(KVSCALE_SANITIZE AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 reports false -Wmaybe-uninitialized inside libstdc++ (std::regex, std::function)
    # once ASan instruments it; the warning stays on in every other build.
    list(APPEND cxx -Wno-maybe-uninitialized)
  endif()
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:${cxx} -ffp-contract=off>
    $<$<COMPILE_LANGUAGE:HIP>:-Wall -Wextra -ffp-contract=off $<$<BOOL:${KVSCALE_WERROR}>:-Werror>>
    $<$<COMPILE_LANGUAGE:CUDA>:--fmad=false -prec-div=true -Xcompiler=-Wall>)
endfunction()
