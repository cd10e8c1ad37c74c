# Install components and the Debian/RPM packages built from them (docs/building.md, "Packages").
#
# Including this file defines the component names; every install() rule names one of them, so
# this is the one place to change them. kvscale_create_packages(), called once at the end of the
# top-level CMakeLists.txt, turns the components into packages through rocm-cmake's
# ROCMCreatePackage (CPack underneath):
#
#   component  package         contents
#   runtime    kvscale         libkvscale.so.<soversion> and .so.<version>
#   devel      kvscale-dev     headers (include/kvscale/*.hpp, *.h), libkvscale.so, CMake package
#   cli        kvscale-cli     bin/kvscale and the example it runs
#   python     python3-kvscale the Python package `kvscale` (it loads libkvscale.so.<soversion>)
#
# runtime and devel are rocm-cmake's own names: rocm_install_targets() and rocm_export_targets()
# put the library, the namelink, the headers and the CMake package there, so they cannot move.
set(KVSCALE_COMPONENT_RUNTIME runtime)
set(KVSCALE_COMPONENT_DEV devel)
set(KVSCALE_COMPONENT_CLI cli)
set(KVSCALE_COMPONENT_PYTHON python)

# Debian revision of every package: the packages are kvscale_<project version>-<release>.
# rocm-cmake reads CPACK_DEBIAN_PACKAGE_RELEASE / CPACK_RPM_PACKAGE_RELEASE from the environment
# and otherwise uses `git describe`, which neither orders releases nor survives a reconfigure.
set(KVSCALE_PACKAGE_RELEASE "1" CACHE STRING "Debian revision / RPM release of the kvscale packages")
set(KVSCALE_PACKAGE_MAINTAINER "kvscale maintainers <kvscale@invalid>" CACHE STRING
    "Maintainer field of the kvscale packages")

# Before ROCMInstallTargets/ROCMCreatePackage define them: no ROCm 5 compatibility symlinks
# (<prefix>/kvscale/lib/...) and no dependency on AMD's rocm-core, which Debian does not have.
set(ROCM_SYMLINK_LIBS OFF CACHE BOOL "Create backwards compatibility symlink for library files.")
set(ROCM_DEP_ROCMCORE OFF CACHE BOOL "Add dependency on rocm-core package")

if(NOT DEFINED ENV{CPACK_DEBIAN_PACKAGE_RELEASE})
  set(ENV{CPACK_DEBIAN_PACKAGE_RELEASE} "${KVSCALE_PACKAGE_RELEASE}")
endif()
if(NOT DEFINED ENV{CPACK_RPM_PACKAGE_RELEASE})
  set(ENV{CPACK_RPM_PACKAGE_RELEASE} "${KVSCALE_PACKAGE_RELEASE}")
endif()
# The exact version of this build's packages, as CPack writes it (rocm-cmake appends
# $ROCM_LIBPATCH_VERSION to the project version when it is set).
set(KVSCALE_PACKAGE_VERSION "${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}.${PROJECT_VERSION_PATCH}")
if(DEFINED ENV{ROCM_LIBPATCH_VERSION} AND NOT "$ENV{ROCM_LIBPATCH_VERSION}" STREQUAL "")
  string(APPEND KVSCALE_PACKAGE_VERSION ".$ENV{ROCM_LIBPATCH_VERSION}")
endif()
set(KVSCALE_DEBIAN_VERSION "${KVSCALE_PACKAGE_VERSION}-$ENV{CPACK_DEBIAN_PACKAGE_RELEASE}")

# Only the package formats this machine can build (rocm-cmake would add TGZ and ZIP archives).
if(NOT CPACK_GENERATOR AND NOT DEFINED ENV{ROCM_PKGTYPE})
  find_program(KVSCALE_DPKG_EXECUTABLE dpkg)
  find_program(KVSCALE_RPMBUILD_EXECUTABLE rpmbuild)
  set(CPACK_GENERATOR "")
  if(KVSCALE_DPKG_EXECUTABLE)
    list(APPEND CPACK_GENERATOR DEB)
  endif()
  if(KVSCALE_RPMBUILD_EXECUTABLE)
    list(APPEND CPACK_GENERATOR RPM)
  endif()
  if(NOT CPACK_GENERATOR)
    set(CPACK_GENERATOR TGZ)
  endif()
endif()

# The package holding a component; the Debian names rocm-cmake derives, or the ones set below.
function(_kvscale_component_package out component)
  if(component STREQUAL KVSCALE_COMPONENT_RUNTIME)
    set(${out} kvscale PARENT_SCOPE)
  elseif(component STREQUAL KVSCALE_COMPONENT_DEV)
    set(${out} kvscale-dev PARENT_SCOPE)
  elseif(component STREQUAL KVSCALE_COMPONENT_CLI)
    set(${out} kvscale-cli PARENT_SCOPE)
  elseif(component STREQUAL KVSCALE_COMPONENT_PYTHON)
    set(${out} python3-kvscale PARENT_SCOPE)
  else()
    message(FATAL_ERROR "kvscale: no package for install component ${component}")
  endif()
endfunction()

# Macro: rocm_create_package() includes CPack, which must see the top-level directory's variables.
macro(kvscale_create_packages)
  include(ROCMCreatePackage)
  # runtime: what libkvscale links (libamdhip64-5 in HIP builds, libstdc++6, libc6...) comes from
  # dpkg-shlibdeps; the shlibs file lets packages that link libkvscale derive kvscale (= version).
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
  set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY "=")
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
  # ldconfig through dpkg's trigger (as debhelper does) rather than the postinst/postrm CPack
  # writes for a library in /usr/lib: the package keeps no maintainer script that acts, which is
  # what lets the packaging test install it into a throw-away root. rocm_create_package() adds
  # its own (empty) postinst and prerm; the empty postrm stops CPack's.
  set(_kvscale_ctrl "${PROJECT_BINARY_DIR}/debian/${KVSCALE_COMPONENT_RUNTIME}")
  file(WRITE "${_kvscale_ctrl}/triggers" "activate-noawait ldconfig\n")
  file(WRITE "${_kvscale_ctrl}/postrm" "")
  # Maintainer scripts 0755 (rocm-cmake writes them 0644, which dpkg-deb -b would refuse).
  set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA "${_kvscale_ctrl}/triggers" "${_kvscale_ctrl}/postrm"
      "${PROJECT_BINARY_DIR}/debian/postinst" "${PROJECT_BINARY_DIR}/debian/prerm")
  set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "${PROJECT_DESCRIPTION} (shared library)")

  # devel: the headers and CMake package describe exactly this build of the library.
  _kvscale_component_package(_kvscale_runtime_pkg ${KVSCALE_COMPONENT_RUNTIME})
  rocm_package_add_deb_dependencies(COMPONENT ${KVSCALE_COMPONENT_DEV}
    DEPENDS "${_kvscale_runtime_pkg} = ${KVSCALE_DEBIAN_VERSION}")
  rocm_package_add_rpm_dependencies(COMPONENT ${KVSCALE_COMPONENT_DEV}
    DEPENDS "${_kvscale_runtime_pkg} = ${KVSCALE_PACKAGE_VERSION}-$ENV{CPACK_RPM_PACKAGE_RELEASE}")
  set(CPACK_DEBIAN_DEVEL_DESCRIPTION "${PROJECT_DESCRIPTION} (headers and CMake package)")

  # Every install() rule must name a packaged component, or cpack would drop its files.
  get_cmake_property(_kvscale_installed_comps COMPONENTS)
  set(_kvscale_comps ${KVSCALE_COMPONENT_RUNTIME} ${KVSCALE_COMPONENT_DEV} ${KVSCALE_COMPONENT_CLI}
                     ${KVSCALE_COMPONENT_PYTHON})
  foreach(_kvscale_comp IN LISTS _kvscale_installed_comps)
    if(NOT _kvscale_comp IN_LIST _kvscale_comps)
      message(FATAL_ERROR "kvscale: an install() rule uses component '${_kvscale_comp}', which no package "
                          "holds; use one of ${_kvscale_comps} (cmake/KvscalePackaging.cmake)")
    endif()
  endforeach()

  # cli and python (each once it has install rules; the Python package may share the CLI's
  # component): the runtime of the same version, since they link or load libkvscale.so.<soversion>.
  list(REMOVE_ITEM _kvscale_comps ${KVSCALE_COMPONENT_RUNTIME} ${KVSCALE_COMPONENT_DEV})
  list(REMOVE_DUPLICATES _kvscale_comps)
  foreach(_kvscale_comp IN LISTS _kvscale_comps)
    if(NOT _kvscale_comp IN_LIST _kvscale_installed_comps)
      continue()
    endif()
    _kvscale_component_package(_kvscale_pkg ${_kvscale_comp})
    rocm_package_setup_component(${_kvscale_comp} PACKAGE_NAME ${_kvscale_comp} DEPENDS
      DEB "${_kvscale_runtime_pkg} = ${KVSCALE_DEBIAN_VERSION}"
      RPM "${_kvscale_runtime_pkg} = ${KVSCALE_PACKAGE_VERSION}-$ENV{CPACK_RPM_PACKAGE_RELEASE}")
    string(TOUPPER "${_kvscale_comp}" _kvscale_comp_uc)
    set(CPACK_DEBIAN_${_kvscale_comp_uc}_PACKAGE_NAME "${_kvscale_pkg}")
    set(CPACK_RPM_${_kvscale_comp_uc}_PACKAGE_NAME "${_kvscale_pkg}")
    set(CPACK_DEBIAN_${_kvscale_comp_uc}_DESCRIPTION "${PROJECT_DESCRIPTION} (${_kvscale_pkg})")
  endforeach()
  # The CLI's libraries come from dpkg-shlibdeps, which finds libkvscale in the build tree (no
  # installed package has it; the explicit dependency above covers it).
  string(TOUPPER "${KVSCALE_COMPONENT_CLI}" _kvscale_comp_uc)
  set(CPACK_DEBIAN_${_kvscale_comp_uc}_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_${_kvscale_comp_uc}_DESCRIPTION "${PROJECT_DESCRIPTION} (command-line tool)")
  set(CPACK_DEBIAN_${_kvscale_comp_uc}_PACKAGE_SECTION utils)
  get_target_property(_kvscale_libdir kvscale LIBRARY_OUTPUT_DIRECTORY)
  if(NOT _kvscale_libdir)
    set(_kvscale_libdir "${PROJECT_BINARY_DIR}")
  endif()
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "${_kvscale_libdir}")
  # The Python package imports numpy.
  rocm_package_add_dependencies(COMPONENT ${KVSCALE_COMPONENT_PYTHON} DEPENDS python3 python3-numpy)
  if(NOT KVSCALE_COMPONENT_PYTHON STREQUAL KVSCALE_COMPONENT_CLI)
    # `python3 -m kvscale validate|inspect|convert` runs the installed CLI binary of this version.
    _kvscale_component_package(_kvscale_cli_pkg ${KVSCALE_COMPONENT_CLI})
    rocm_package_add_deb_dependencies(COMPONENT ${KVSCALE_COMPONENT_PYTHON}
      DEPENDS "${_kvscale_cli_pkg} = ${KVSCALE_DEBIAN_VERSION}")
    string(TOUPPER "${KVSCALE_COMPONENT_PYTHON}" _kvscale_comp_uc)
    set(CPACK_DEBIAN_${_kvscale_comp_uc}_PACKAGE_SECTION python)
    set(CPACK_DEBIAN_${_kvscale_comp_uc}_DESCRIPTION "${PROJECT_DESCRIPTION} (Python package)")
  endif()

  rocm_create_package(
    NAME kvscale
    DESCRIPTION "${PROJECT_DESCRIPTION}"
    MAINTAINER "${KVSCALE_PACKAGE_MAINTAINER}")
endmacro()
