# Installs tapegrad from BUILD_DIR into WORK_DIR/prefix, then builds and runs the consumer. With
# FROM_DEB, the install is the Debian package instead: cpack -G DEB makes tapegrad-dev, its
# declared dependencies are checked, and it is unpacked into WORK_DIR/root (a scratch root: CI
# cannot install into the machine's /usr), whose usr/ is the prefix.
file(REMOVE_RECURSE ${WORK_DIR})
if(FROM_DEB)
  execute_process(COMMAND cpack -G DEB --config ${BUILD_DIR}/CPackConfig.cmake -B ${WORK_DIR}/pkg
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc)
    message(FATAL_ERROR "cpack -G DEB failed: ${rc}\n${out}")
  endif()
  file(GLOB debs ${WORK_DIR}/pkg/tapegrad-dev_*.deb)
  list(LENGTH debs count)
  if(NOT count EQUAL 1)
    message(FATAL_ERROR "cpack made ${count} tapegrad-dev packages: '${debs}'")
  endif()
  execute_process(COMMAND dpkg-deb -f ${debs} Package Depends OUTPUT_VARIABLE fields
                  RESULT_VARIABLE rc)
  foreach(needed "Package: tapegrad-dev" libxtensor-dev libxtensor-blas-dev libfmt-dev libzip-dev
                 libopenblas)
    string(FIND "${fields}" "${needed}" at)
    if(rc OR at EQUAL -1)
      message(FATAL_ERROR "the package's control fields lack '${needed}':\n${fields}")
    endif()
  endforeach()
  message(STATUS "tapegrad-dev: ${debs}\n${fields}")
  execute_process(COMMAND dpkg-deb -x ${debs} ${WORK_DIR}/root RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "dpkg-deb -x failed: ${rc}")
  endif()
  set(prefix ${WORK_DIR}/root/usr)
else()
  execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix
                  RESULT_VARIABLE rc OUTPUT_QUIET)
  if(rc)
    message(FATAL_ERROR "install failed: ${rc}")
  endif()
  set(prefix ${WORK_DIR}/prefix)
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build
                -DCMAKE_PREFIX_PATH=${prefix} ${EXTRA_CONFIGURE_ARGS}
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the consumer failed: ${rc}")
endif()
# Only the public headers are installed: the umbrella and the tapegrad/ folder.
file(GLOB installed RELATIVE ${prefix}/include ${prefix}/include/*)
if(NOT installed STREQUAL "tapegrad;tapegrad.hpp")
  message(FATAL_ERROR "installed include/ holds '${installed}', expected 'tapegrad;tapegrad.hpp'")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build --parallel 2
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the consumer failed: ${rc}")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "the consumer failed: ${rc}")
endif()
# Built where tapegrad was installed with tapegrad::onnx (EXPECT_ONNX: the build has it).
if(EXPECT_ONNX AND NOT EXISTS ${WORK_DIR}/build/consumer_onnx)
  message(FATAL_ERROR "tapegrad was built with tapegrad::onnx, but the installed package lacks it")
endif()
if(EXISTS ${WORK_DIR}/build/consumer_onnx)
  execute_process(COMMAND ${WORK_DIR}/build/consumer_onnx RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "the ONNX consumer failed: ${rc}")
  endif()
endif()
