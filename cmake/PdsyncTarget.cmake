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

# pdsync_include_root(target [DIRS dir...] [HEADERS_OF dir...]): gives `target` an include
# root of its own, under the build tree, that holds only its own headers at the paths they
# have in the repository ("shared/net/mqtt_link.hpp"). DIRS links whole folders (with their
# subfolders); HEADERS_OF links only the headers directly in a folder (the protocol core
# lives in shared/ beside the net/ and store/ libraries it must not see). A library that
# does not link another therefore cannot include it: the compiler finds no such file.
set(PDSYNC_INCLUDE_ROOTS ${PROJECT_BINARY_DIR}/include-roots)
function(pdsync_include_root target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "DIRS;HEADERS_OF")
  set(root ${PDSYNC_INCLUDE_ROOTS}/${target})
  set(links)
  foreach(dir IN LISTS arg_DIRS)
    list(APPEND links ${dir})
  endforeach()
  foreach(dir IN LISTS arg_HEADERS_OF)
    file(GLOB headers CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}
         ${PROJECT_SOURCE_DIR}/${dir}/*.hpp)
    list(APPEND links ${headers})
  endforeach()
  foreach(path IN LISTS links)
    get_filename_component(parent ${root}/${path} DIRECTORY)
    file(MAKE_DIRECTORY ${parent})
    if(IS_SYMLINK ${root}/${path})
      file(REMOVE ${root}/${path})
    endif()
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${path} ${root}/${path} SYMBOLIC)
  endforeach()
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    target_include_directories(${target} INTERFACE ${root})
  else()
    target_include_directories(${target} PUBLIC ${root})
  endif()
endfunction()
