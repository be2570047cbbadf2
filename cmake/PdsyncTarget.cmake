# Per-target build settings shared by every pdsync target: warnings (as errors unless
# PDSYNC_WERROR is off) and, with PDSYNC_SANITIZE, AddressSanitizer + UBSan. Applied with
# pdsync_configure_target() so no global flag is ever mutated.
function(pdsync_configure_target target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic $<$<CXX_COMPILER_ID:GNU>:-Wshadow=local>)
  if(PDSYNC_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(PDSYNC_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()
