"""The time course: reading (interaction CSV, dataset folder), the one door ``load_course()``,
the :class:`~step.data.course.GeneTimeCourse` it returns, and the windows and splits over it."""
