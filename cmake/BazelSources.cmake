# Reads a cc_library's source lists out of a BUILD.bazel file, so that the
# CMake build compiles exactly the files Bazel does and no second list can
# drift from the first: a file added to `srcs` or `hdrs` in BUILD.bazel is in
# the CMake build at the next configure (CMake re-runs itself when a
# BUILD.bazel it read changes).
#
# Only the form buildifier writes is understood: `srcs` and `hdrs` as plain
# lists of string literals naming files of the package, one per line or all
# on one line. Anything else there (glob(), select(), a variable, `+`, a
# label such as ":gen" or "//x:y") stops the configure with the file, the
# line and what to do, rather than silently building something else.
# tools/cmake_check.sh compares the result with `bazel query` on every run.
#
#   tidepool_bazel_cc_library(<package dir> <name> <srcs var> <hdrs var>)
#
# sets <srcs var> and <hdrs var> in the caller to the absolute paths of the
# files in that cc_library's `srcs` and `hdrs`, in BUILD.bazel's order.

function(tidepool_bazel_cc_library package_dir name srcs_var hdrs_var)
  set(build_file "${package_dir}/BUILD.bazel")
  if(NOT EXISTS "${build_file}")
    message(FATAL_ERROR "tidepool: ${build_file} does not exist")
  endif()
  set_property(DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" APPEND PROPERTY
    CMAKE_CONFIGURE_DEPENDS "${build_file}")

  # One CMake list element per line. Brackets and semicolons would change
  # how CMake splits lists, so they become placeholders first.
  file(READ "${build_file}" text)
  string(REPLACE ";" "<SEMI>" text "${text}")
  string(REPLACE "[" "<LB>" text "${text}")
  string(REPLACE "]" "<RB>" text "${text}")
  string(REPLACE "\n" ";" lines "${text}")

  set(line_no 0)
  set(rule "")        # the rule being read, e.g. cc_library
  set(rule_name "")
  set(attr "")        # srcs or hdrs while inside a multi-line list
  set(found FALSE)
  foreach(line IN LISTS lines)
    math(EXPR line_no "${line_no} + 1")
    # Comments and blank lines carry nothing. File names contain no '#'.
    string(REGEX REPLACE "[ \t]*#.*$" "" line "${line}")
    if(line MATCHES "^[ \t]*$")
      continue()
    endif()
    set(where "${build_file}:${line_no}")
    set(hint "CMake builds from this list (cmake/BazelSources.cmake): keep `srcs` and `hdrs` plain lists of file names, or teach that file the new form")

    if(NOT attr STREQUAL "")
      # Inside a multi-line srcs/hdrs list.
      if(line MATCHES "^[ \t]*<RB>,?[ \t]*$")
        set(attr "")
      elseif(line MATCHES "^[ \t]*\"([^\"]+)\",?[ \t]*$")
        _tidepool_bazel_add_file("${CMAKE_MATCH_1}")
      else()
        message(FATAL_ERROR "tidepool: ${where}: cannot read `${attr}` of rule ${rule_name}: '${line}'. ${hint}.")
      endif()
    elseif(line MATCHES "^([A-Za-z_][A-Za-z0-9_]*)\\(")
      set(rule "${CMAKE_MATCH_1}")
      set(rule_name "")
      set(rule_srcs "")
      set(rule_hdrs "")
    elseif(line MATCHES "^\\)")
      if(rule STREQUAL "cc_library" AND rule_name STREQUAL name)
        set(found TRUE)
        set(out_srcs "${rule_srcs}")
        set(out_hdrs "${rule_hdrs}")
      endif()
      set(rule "")
    elseif(NOT rule STREQUAL "" AND line MATCHES "^[ \t]+name = \"([^\"]+)\",?$")
      set(rule_name "${CMAKE_MATCH_1}")
    elseif(NOT rule STREQUAL "" AND line MATCHES "^[ \t]+(srcs|hdrs) = (.*)$")
      set(list_attr "${CMAKE_MATCH_1}")
      set(value "${CMAKE_MATCH_2}")
      if(value MATCHES "^<LB>[ \t]*$")
        set(attr "${list_attr}")
      elseif(value MATCHES "^<LB>(.*)<RB>,?[ \t]*$")
        # All on one line: "a.cc", "b.cc"
        set(attr "${list_attr}")
        string(REPLACE "," ";" items "${CMAKE_MATCH_1}")
        foreach(item IN LISTS items)
          string(STRIP "${item}" item)
          if(item STREQUAL "")
            continue()
          elseif(item MATCHES "^\"([^\"]+)\"$")
            _tidepool_bazel_add_file("${CMAKE_MATCH_1}")
          else()
            message(FATAL_ERROR "tidepool: ${where}: cannot read `${list_attr}` of a ${rule}: '${item}'. ${hint}.")
          endif()
        endforeach()
        set(attr "")
      else()
        message(FATAL_ERROR "tidepool: ${where}: `${list_attr}` is not a plain list: '${line}'. ${hint}.")
      endif()
    endif()
  endforeach()

  if(NOT attr STREQUAL "")
    message(FATAL_ERROR "tidepool: ${build_file}: a `${attr}` list never closes")
  endif()
  if(NOT found)
    message(FATAL_ERROR "tidepool: ${build_file} has no cc_library(name = \"${name}\") that cmake/BazelSources.cmake can read")
  endif()
  set(${srcs_var} "${out_srcs}" PARENT_SCOPE)
  set(${hdrs_var} "${out_hdrs}" PARENT_SCOPE)
endfunction()

# Appends one list entry to rule_srcs or rule_hdrs (per `attr`) of the
# caller, as an absolute path, after checking it names an existing file of
# the package rather than a label.
macro(_tidepool_bazel_add_file file)
  if("${file}" MATCHES "^(:|//|@)" OR "${file}" MATCHES ":")
    message(FATAL_ERROR "tidepool: ${where}: `${file}` is a label, not a file; CMake cannot follow labels. ${hint}.")
  endif()
  if(NOT EXISTS "${package_dir}/${file}")
    message(FATAL_ERROR "tidepool: ${where}: `${file}` is listed but ${package_dir}/${file} does not exist")
  endif()
  if(attr STREQUAL "srcs")
    list(APPEND rule_srcs "${package_dir}/${file}")
  else()
    list(APPEND rule_hdrs "${package_dir}/${file}")
  endif()
endmacro()
