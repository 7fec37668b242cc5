# tracenas_add_plugin(<target> SOURCES <files>... [LIBRARIES <libs>...]
#                     [OUTPUT_DIRECTORY <dir>] [INSTALL_DESTINATION <dir>])
#
# Builds a TraceNAS plugin: a shared module linked against TraceNAS::core,
# compiled with hidden visibility and linked with a version script so that
# its only exported symbol is the entry point `tracenas_plugin_entry_v1`
# (define it with TN_PLUGIN(...) from <tracenas/plugin.hpp>).
#
# The module is named lib<target>.so. Put it in a folder listed in
# TRACENAS_PLUGIN_PATH or a pipeline's plugins.search_paths, or install it into
# TRACENAS_PLUGIN_INSTALL_DIR (the installed plugin folder).
include_guard(GLOBAL)

set(_TRACENAS_PLUGIN_MAP_DEFAULT "${CMAKE_CURRENT_LIST_DIR}/tracenas_plugin.map")

function(tracenas_add_plugin target)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY;INSTALL_DESTINATION" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "tracenas_add_plugin(${target}): SOURCES is required")
  endif()
  if(DEFINED TRACENAS_PLUGIN_MAP)
    set(map "${TRACENAS_PLUGIN_MAP}")
  else()
    set(map "${_TRACENAS_PLUGIN_MAP_DEFAULT}")
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE TraceNAS::core ${ARG_LIBRARIES})
  target_compile_features(${target} PRIVATE cxx_std_17)
  set_target_properties(${target} PROPERTIES
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    PREFIX "lib"
    LINK_DEPENDS "${map}")
  target_link_options(${target} PRIVATE "LINKER:--version-script=${map}")
  # Sanitizer builds leave the sanitizer runtime's symbols to the executable.
  if(NOT TRACENAS_SANITIZE AND NOT TRACENAS_FUZZ)
    target_link_options(${target} PRIVATE "LINKER:--no-undefined")
  endif()
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  endif()
  if(ARG_INSTALL_DESTINATION)
    install(TARGETS ${target} LIBRARY DESTINATION "${ARG_INSTALL_DESTINATION}")
  endif()
endfunction()
