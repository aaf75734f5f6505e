# cmake/install.cmake: what `cmake --install` puts in place (scripts/build-image.sh and the
# container image use it): the programs, their man pages and an example configuration.
#   bin/regsyncd, bin/regsync-dump        the daemon and the inspection tool
#   bin/regsync-gen                        the registry generator (demos: docker/compose.yaml seeds
#                                          a global store with it); installed when built
#   share/man/man8/regsyncd.8, share/man/man1/regsync-dump.1
#   share/doc/regsync/examples/*.yaml      the compose configurations, as starting points
include(GNUInstallDirs)

foreach(prog regsyncd regsync-dump)
  if(TARGET ${prog})
    install(TARGETS ${prog} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()
if(TARGET regsync-gen)
  # OPTIONAL: a build of only regsyncd and regsync-dump installs without it
  install(TARGETS regsync-gen RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} OPTIONAL)
endif()

install(FILES "${CMAKE_SOURCE_DIR}/docs/man/regsyncd.8" DESTINATION "${CMAKE_INSTALL_MANDIR}/man8")
install(FILES "${CMAKE_SOURCE_DIR}/docs/man/regsync-dump.1" DESTINATION "${CMAKE_INSTALL_MANDIR}/man1")
file(GLOB RS_EXAMPLE_CONFIGS "${CMAKE_SOURCE_DIR}/docker/config/*.yaml")
if(RS_EXAMPLE_CONFIGS)
  install(FILES ${RS_EXAMPLE_CONFIGS} DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples")
endif()
