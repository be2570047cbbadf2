# Install rules and the two Debian packages (CPack DEB, one component per package):
#   pdsync-server  the server binary, the broker config templates and their renderer, the
#                  fleet scripts, the server and broker units;
#   pdsync-client  the device daemon, the `pdsync` command (device and admin commands: the
#                  server package depends on it), the client unit.
# deploy/package.sh builds both; deploy/test-packages.sh installs and checks them.
include(GNUInstallDirs)

# Debian 12 keeps packaged units in /lib (its merged-/usr transition moves them later);
# lintian flags units elsewhere. Absolute on purpose: units never follow the install prefix.
set(PDSYNC_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH "Where the systemd units go")
set(PDSYNC_SHARE_DIR "${CMAKE_INSTALL_DATADIR}/pdsync")
set(pdsync_debian_dir "${PROJECT_SOURCE_DIR}/deploy/debian")
set(pdsync_staging "${PROJECT_BINARY_DIR}/packaging")

install(TARGETS pdsync-server RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT server)
install(TARGETS pdsync-client pdsync RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT client)

# The units are rendered at install time, not configure time, so ExecStart follows the
# prefix the install (or CPack, with /usr) actually uses. The packaged layout is /etc/pdsync
# for configs and /var/lib for data; deploy/fleet-init.sh renders the same templates for a
# fleet directory, and its units in /etc/systemd/system override these.
#
# pdsync_install_unit(COMPONENT UNIT KEY=VALUE...): the unit from deploy/systemd/UNIT.in.
function(pdsync_install_unit component unit)
  set(sets "")
  foreach(pair IN LISTS ARGN)
    string(FIND "${pair}" "=" eq)
    string(SUBSTRING "${pair}" 0 ${eq} key)
    math(EXPR from "${eq} + 1")
    string(SUBSTRING "${pair}" ${from} -1 value)
    string(APPEND sets "set(${key} \"${value}\")\n")
  endforeach()
  install(CODE "
set(BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
${sets}
configure_file(\"${PROJECT_SOURCE_DIR}/deploy/systemd/${unit}.in\" \"${pdsync_staging}/units/${unit}\" @ONLY)
" COMPONENT ${component})
  install(FILES "${pdsync_staging}/units/${unit}" DESTINATION ${PDSYNC_SYSTEMD_UNIT_DIR}
          COMPONENT ${component})
endfunction()
pdsync_install_unit(server pdsync-server.service SERVER_CONF=/etc/pdsync/pdsync-server.conf
                    SERVER_DATA_DIR=/var/lib/pdsync-server BACKUP_DIR=/var/backups/pdsync-server)
pdsync_install_unit(server mosquitto-pdsync.service MOSQUITTO_CONF=/etc/pdsync/mosquitto.conf
                    BROKER_DATA_DIR=/var/lib/pdsync-broker)
pdsync_install_unit(client pdsync-client.service CLIENT_CONF=/etc/pdsync/pdsync-client.conf)

# The broker config templates and renderer, the fleet scripts and their unit templates keep
# their relative layout, so /usr/share/pdsync/deploy/fleet-init.sh finds ../broker-config.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/broker-config DESTINATION ${PDSYNC_SHARE_DIR}
        COMPONENT server
        PATTERN "README.md" EXCLUDE
        # The session plugin's sources: the package ships the built plugin (its own rule).
        PATTERN "sessions-plugin" EXCLUDE
        PATTERN "*.sh" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                   WORLD_READ WORLD_EXECUTE)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/deploy/fleet-init.sh ${PROJECT_SOURCE_DIR}/deploy/enroll-device.sh
        DESTINATION ${PDSYNC_SHARE_DIR}/deploy COMPONENT server)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/deploy/lib ${PROJECT_SOURCE_DIR}/deploy/systemd
        DESTINATION ${PDSYNC_SHARE_DIR}/deploy COMPONENT server)

# Manual pages, changelog and copyright per package, compressed as Debian policy asks
# (gzip -9n: no name or time stamp, so the package is reproducible).
find_program(PDSYNC_GZIP gzip REQUIRED)
function(pdsync_gzip_install src dst_dir dst_name component)
  set(out "${pdsync_staging}/${component}/${dst_name}")
  add_custom_command(OUTPUT "${out}" DEPENDS "${src}"
                     COMMAND ${CMAKE_COMMAND} -E make_directory "${pdsync_staging}/${component}"
                     COMMAND ${PDSYNC_GZIP} -9nc "${src}" > "${out}"
                     VERBATIM)
  set_property(GLOBAL APPEND PROPERTY pdsync_packaging_outputs "${out}")
  install(FILES "${out}" DESTINATION "${dst_dir}" COMPONENT ${component})
endfunction()

set(pdsync_man1 "${CMAKE_INSTALL_MANDIR}/man1")
pdsync_gzip_install(${PROJECT_SOURCE_DIR}/docs/man/pdsync-server.1 ${pdsync_man1} pdsync-server.1.gz server)
pdsync_gzip_install(${PROJECT_SOURCE_DIR}/docs/man/pdsync-client.1 ${pdsync_man1} pdsync-client.1.gz client)
pdsync_gzip_install(${PROJECT_SOURCE_DIR}/docs/man/pdsync.1 ${pdsync_man1} pdsync.1.gz client)
foreach(component server client)
  set(doc "${CMAKE_INSTALL_DATADIR}/doc/pdsync-${component}")
  # A native package (version without a Debian revision) carries changelog.gz.
  pdsync_gzip_install(${pdsync_debian_dir}/changelog ${doc} changelog.gz ${component})
  install(FILES ${pdsync_debian_dir}/copyright ${PROJECT_SOURCE_DIR}/docs/deploying.md
          DESTINATION ${doc} COMPONENT ${component})
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/architecture.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/pdsync-server COMPONENT server)
# Documentation belongs under /usr/share/doc (lintian), so the broker templates' README
# goes there, renamed.
install(FILES ${PROJECT_SOURCE_DIR}/broker-config/README.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/pdsync-server RENAME broker-config.md COMPONENT server)
get_property(pdsync_outputs GLOBAL PROPERTY pdsync_packaging_outputs)
add_custom_target(pdsync_packaging_files ALL DEPENDS ${pdsync_outputs})

# ---- CPack DEB ----------------------------------------------------------------------------
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "pdsync")
set(CPACK_PACKAGE_VENDOR "pdsync")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "pdsync maintainers <pdsync-maintainers@example.org>")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL server client)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SOURCE "pdsync")
set(CPACK_DEBIAN_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_SERVER_PACKAGE_NAME "pdsync-server")
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS
    "pdsync-client (= ${PROJECT_VERSION}), mosquitto (>= 2.0), mosquitto-clients, openssl, adduser")
set(CPACK_DEBIAN_SERVER_DESCRIPTION "authoritative store node of a pdsync fleet
pdsync keeps office devices' per-user settings (address books, keychains,
preferences) in sync over MQTT. This package holds pdsync-server, the node
that owns the fleet's SQLite store, together with the Mosquitto broker
configuration templates, the fleet set-up scripts and the systemd units of
the server and its broker.")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA
    "${pdsync_debian_dir}/server/postinst")

set(CPACK_DEBIAN_CLIENT_PACKAGE_NAME "pdsync-client")
set(CPACK_DEBIAN_CLIENT_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_CLIENT_DESCRIPTION "device daemon and command of a pdsync fleet
pdsync keeps office devices' per-user settings (address books, keychains,
preferences) in sync over MQTT. This package holds pdsync-client, the daemon
that keeps one device's local store in sync with the fleet, its systemd
unit, and the pdsync command that talks to it and to the server.")
set(CPACK_DEBIAN_CLIENT_PACKAGE_CONTROL_EXTRA
    "${pdsync_debian_dir}/client/postinst")

include(CPack)
